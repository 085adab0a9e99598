public import SwitchyardCore

/// Router → Anthropic provider: OpenAI chat-completions bodies (the router's canonical format)
/// become Anthropic Messages bodies, and Anthropic's answers become OpenAI completions.
///
/// What does not carry over:
/// - Rejected (`TranslationError`, a 400 for the client): `n` > 1 (Anthropic returns one choice),
///   content parts other than text, images and base64 PDFs (audio, file ids), the legacy
///   `function` role and `function_call` field, tool arguments that are not a JSON object.
/// - Dropped: `response_format` (Anthropic has no JSON mode or schema-constrained output; the
///   prompt still asks for the shape, so the request is served rather than refused),
///   `frequency_penalty`, `presence_penalty`, `logit_bias`, `logprobs`, `top_logprobs`, `seed`,
///   `stream_options` (Anthropic always reports usage), `service_tier`, `store`, `metadata`,
///   `reasoning_effort`, `modalities`, `prediction`, message `name`s, tool `strict`.
/// - Adjusted: `temperature` above 1 is clamped to 1 (Anthropic's range is 0...1, OpenAI's 0...2);
///   `system`/`developer` messages anywhere are hoisted into the top-level `system`, joined by a
///   blank line; `tool_choice` without tools is dropped (Anthropic refuses it).
public enum AnthropicOutbound {
    /// Anthropic requires `max_tokens`; OpenAI clients often leave it out.
    static let defaultMaxTokens: Int64 = 4096

    /// `chat` is an OpenAI chat-completions request body. Returns the Anthropic `/v1/messages` body
    /// for `upstreamModel`, streaming when `stream` is set.
    public static func request(chat: [String: JSONValue], upstreamModel: String, stream: Bool) throws(TranslationError) -> JSONValue {
        if let n = chat["n"], !n.isNull {
            guard let count = n.intValue else { throw TranslationError("'n' must be an integer.", param: "n") }
            guard count <= 1 else {
                throw TranslationError("Anthropic models return a single choice; 'n' must be 1.", param: "n")
            }
        }
        guard let messages = chat["messages"]?.arrayValue else {
            throw TranslationError("'messages' must be an array.", param: "messages")
        }

        var system: [String] = []
        var turns: [Turn] = []
        for (offset, message) in messages.enumerated() {
            let path = "messages[\(offset)]"
            guard case .object(let fields) = message else {
                throw TranslationError("Each message must be an object.", param: path)
            }
            guard let role = fields["role"]?.stringValue else {
                throw TranslationError("Each message needs a 'role' string.", param: path + ".role")
            }
            switch role {
            case "system", "developer":
                let text = try Self.plainText(fields["content"], path: path + ".content")
                if !text.isEmpty { system.append(text) }
            case "user":
                let blocks = try Self.contentBlocks(fields["content"], path: path + ".content")
                Self.append(blocks, role: "user", to: &turns)
            case "assistant":
                let blocks = try Self.assistantBlocks(fields, path: path)
                Self.append(blocks, role: "assistant", to: &turns)
            case "tool":
                let block = try Self.toolResult(fields, path: path)
                Self.append([block], role: "user", to: &turns)
            default:
                throw TranslationError("Messages with role '\(role)' cannot be sent to an Anthropic model.", param: path + ".role")
            }
        }
        guard !turns.isEmpty else {
            throw TranslationError("Anthropic needs at least one user or assistant message.", param: "messages")
        }

        let maxTokens = try Self.maxTokens(chat)
        var body: [String: JSONValue] = [
            "model": .string(upstreamModel),
            "messages": .array(turns.map(\.json)),
            "max_tokens": .int(maxTokens),
        ]
        if !system.isEmpty { body["system"] = .string(system.joined(separator: "\n\n")) }
        if stream { body["stream"] = true }

        let tools = try Self.tools(chat["tools"])
        if !tools.isEmpty {
            body["tools"] = .array(tools)
            var choice = try Self.toolChoice(chat["tool_choice"])
            if chat["parallel_tool_calls"]?.boolValue == false {
                var fields = choice ?? ["type": "auto"]
                if fields["type"]?.stringValue != "none" { fields["disable_parallel_tool_use"] = true }
                choice = fields
            }
            if let choice { body["tool_choice"] = .object(choice) }
        }

        if let temperature = chat["temperature"], !temperature.isNull {
            guard let value = Self.number(temperature) else {
                throw TranslationError("'temperature' must be a number.", param: "temperature")
            }
            body["temperature"] = value > 1 ? JSONValue.double(1) : temperature
        }
        if let topP = chat["top_p"], !topP.isNull {
            guard Self.number(topP) != nil else { throw TranslationError("'top_p' must be a number.", param: "top_p") }
            body["top_p"] = topP
        }
        let stops = try Self.stopSequences(chat["stop"])
        if !stops.isEmpty { body["stop_sequences"] = .array(stops) }
        if let user = chat["user"]?.stringValue, !user.isEmpty {
            body["metadata"] = ["user_id": .string(user)]
        }
        return .object(body)
    }

    /// An Anthropic message response → OpenAI `chat.completion`. `model` is the name to report;
    /// `created` the Unix time to stamp.
    public static func response(_ message: JSONValue, model: String, created: Int64) throws(TranslationError) -> JSONValue {
        guard case .object = message else { throw TranslationError("The Anthropic response is not a JSON object.") }
        if message["type"]?.stringValue == "error" {
            throw TranslationError(message["error"]?["message"]?.stringValue ?? "The Anthropic API returned an error.")
        }
        guard let content = message["content"]?.arrayValue else {
            throw TranslationError("The Anthropic response has no 'content' array.", param: "content")
        }
        var text = ""
        var toolCalls: [JSONValue] = []
        for (offset, block) in content.enumerated() {
            switch block["type"]?.stringValue ?? "" {
            case "text":
                text += block["text"]?.stringValue ?? ""
            case "tool_use":
                guard let id = block["id"]?.stringValue, let name = block["name"]?.stringValue else {
                    throw TranslationError("A tool_use block lacks its id or name.", param: "content[\(offset)]")
                }
                let function: JSONValue = ["name": .string(name), "arguments": .string(AnthropicWire.argumentsText(block["input"]))]
                toolCalls.append(["id": .string(id), "type": "function", "function": function])
            default:
                // thinking, redacted_thinking and server-tool blocks have no place in an OpenAI message.
                continue
            }
        }

        var reply: [String: JSONValue] = ["role": "assistant"]
        let replyContent: JSONValue = text.isEmpty && !toolCalls.isEmpty ? .null : .string(text)
        reply["content"] = replyContent
        if !toolCalls.isEmpty { reply["tool_calls"] = .array(toolCalls) }

        let choice: JSONValue = [
            "index": 0,
            "message": .object(reply),
            "finish_reason": .string(AnthropicWire.finishReason(message["stop_reason"]?.stringValue)),
            "logprobs": .null,
        ]
        let completion: [String: JSONValue] = [
            "id": .string("chatcmpl-" + (message["id"]?.stringValue ?? "")),
            "object": "chat.completion",
            "created": .int(created),
            "model": .string(model),
            "choices": .array([choice]),
            "usage": Self.usage(message["usage"]),
        ]
        return .object(completion)
    }

    /// OpenAI `usage` for Anthropic `usage`: cache writes and reads are part of the prompt.
    static func usage(_ usage: JSONValue?) -> JSONValue {
        let cacheRead = AnthropicWire.count(usage?["cache_read_input_tokens"])
        let prompt =
            AnthropicWire.count(usage?["input_tokens"]) + AnthropicWire.count(usage?["cache_creation_input_tokens"]) + cacheRead
        let completion = AnthropicWire.count(usage?["output_tokens"])
        var fields: [String: JSONValue] = [
            "prompt_tokens": .int(prompt),
            "completion_tokens": .int(completion),
            "total_tokens": .int(prompt + completion),
        ]
        if let read = usage?["cache_read_input_tokens"], !read.isNull {
            fields["prompt_tokens_details"] = ["cached_tokens": .int(cacheRead)]
        }
        return .object(fields)
    }

    // MARK: - Messages

    /// One Anthropic message under construction; roles must alternate, so same-role neighbours merge.
    private struct Turn {
        var role: String
        var blocks: [JSONValue]

        var json: JSONValue {
            var blocks = self.blocks
            if self.role == "user" {
                // Anthropic wants a user turn's tool results before anything else in it.
                let results = blocks.filter { $0["type"]?.stringValue == "tool_result" }
                if !results.isEmpty, results.count < blocks.count {
                    blocks = results + blocks.filter { $0["type"]?.stringValue != "tool_result" }
                }
            }
            return ["role": .string(self.role), "content": .array(blocks)]
        }
    }

    private static func append(_ blocks: [JSONValue], role: String, to turns: inout [Turn]) {
        guard !blocks.isEmpty else { return }
        if let last = turns.indices.last, turns[last].role == role {
            turns[last].blocks.append(contentsOf: blocks)
        } else {
            turns.append(Turn(role: role, blocks: blocks))
        }
    }

    /// The text of a system/developer message: a string, or its text parts joined by newlines.
    private static func plainText(_ content: JSONValue?, path: String) throws(TranslationError) -> String {
        switch content ?? .null {
        case .null: return ""
        case .string(let text): return text
        case .array(let parts):
            var texts: [String] = []
            for (offset, part) in parts.enumerated() {
                guard part["type"]?.stringValue == "text", let text = part["text"]?.stringValue else {
                    throw TranslationError("Only text parts are allowed here.", param: "\(path)[\(offset)].type")
                }
                texts.append(text)
            }
            return texts.joined(separator: "\n")
        case .bool, .int, .double, .object:
            throw TranslationError("'content' must be a string or an array of parts.", param: path)
        }
    }

    /// Anthropic content blocks for user (or tool result) content: text, images, PDFs.
    /// Empty text is left out (Anthropic refuses empty text blocks).
    private static func contentBlocks(_ content: JSONValue?, path: String) throws(TranslationError) -> [JSONValue] {
        switch content ?? .null {
        case .null: return []
        case .string(let text): return text.isEmpty ? [] : [["type": "text", "text": .string(text)]]
        case .array(let parts):
            var blocks: [JSONValue] = []
            for (offset, part) in parts.enumerated() {
                if let block = try Self.contentBlock(part, path: "\(path)[\(offset)]") { blocks.append(block) }
            }
            return blocks
        case .bool, .int, .double, .object:
            throw TranslationError("'content' must be a string or an array of parts.", param: path)
        }
    }

    private static func contentBlock(_ part: JSONValue, path: String) throws(TranslationError) -> JSONValue? {
        guard case .object(let fields) = part else { throw TranslationError("Each content part must be an object.", param: path) }
        var block: [String: JSONValue]
        switch fields["type"]?.stringValue ?? "" {
        case "text", "refusal":
            let key = fields["type"]?.stringValue ?? "text"
            guard let text = fields[key]?.stringValue else {
                throw TranslationError("A \(key) part needs a '\(key)' string.", param: "\(path).\(key)")
            }
            if text.isEmpty { return nil }
            block = ["type": "text", "text": .string(text)]
        case "image_url":
            // `image_url` is an object with `url` (and `detail`, which Anthropic has no use for); some clients send the string.
            guard let url = fields["image_url"]?["url"]?.stringValue ?? fields["image_url"]?.stringValue else {
                throw TranslationError("An image_url part needs 'image_url.url'.", param: "\(path).image_url.url")
            }
            let source = try Self.imageSource(url, path: "\(path).image_url.url")
            block = ["type": "image", "source": source]
        case "file":
            guard let data = fields["file"]?["file_data"]?.stringValue, let decoded = AnthropicWire.dataURL(data),
                decoded.mediaType == "application/pdf"
            else {
                throw TranslationError(
                    "Anthropic models take files only as base64 PDF data ('file.file_data'); file ids are not supported.",
                    param: "\(path).file"
                )
            }
            block = [
                "type": "document",
                "source": ["type": "base64", "media_type": .string(decoded.mediaType), "data": .string(decoded.data)],
            ]
        default:
            throw TranslationError(
                "Content parts of type '\(fields["type"]?.stringValue ?? "")' cannot be sent to an Anthropic model.",
                param: "\(path).type"
            )
        }
        if let cacheControl = fields["cache_control"], !cacheControl.isNull { block["cache_control"] = cacheControl }
        return .object(block)
    }

    private static func imageSource(_ url: String, path: String) throws(TranslationError) -> JSONValue {
        if let decoded = AnthropicWire.dataURL(url) {
            return ["type": "base64", "media_type": .string(decoded.mediaType), "data": .string(decoded.data)]
        }
        if AnthropicWire.isWebURL(url) { return ["type": "url", "url": .string(url)] }
        throw TranslationError("Image URLs must be http(s) URLs or base64 data: URLs.", param: path)
    }

    /// An assistant message's text (and refusal) parts, then its tool calls as tool_use blocks.
    private static func assistantBlocks(_ fields: [String: JSONValue], path: String) throws(TranslationError) -> [JSONValue] {
        if let legacy = fields["function_call"], !legacy.isNull {
            throw TranslationError("The legacy 'function_call' field is not supported here; use 'tool_calls'.", param: path + ".function_call")
        }
        var blocks = try Self.contentBlocks(fields["content"], path: path + ".content")
        guard let calls = fields["tool_calls"], !calls.isNull else { return blocks }
        guard let list = calls.arrayValue else { throw TranslationError("'tool_calls' must be an array.", param: path + ".tool_calls") }
        for (offset, call) in list.enumerated() {
            let callPath = "\(path).tool_calls[\(offset)]"
            if let type = call["type"]?.stringValue, type != "function" {
                throw TranslationError("Only function tool calls can be sent to an Anthropic model.", param: callPath + ".type")
            }
            guard let id = call["id"]?.stringValue, !id.isEmpty else {
                throw TranslationError("A tool call needs an 'id'.", param: callPath + ".id")
            }
            guard let name = call["function"]?["name"]?.stringValue, !name.isEmpty else {
                throw TranslationError("A tool call needs 'function.name'.", param: callPath + ".function.name")
            }
            let input = try Self.toolInput(call["function"]?["arguments"], path: callPath + ".function.arguments")
            blocks.append(["type": "tool_use", "id": .string(id), "name": .string(name), "input": input])
        }
        return blocks
    }

    /// Tool-call arguments (a JSON string) as the object Anthropic's `input` must be.
    private static func toolInput(_ arguments: JSONValue?, path: String) throws(TranslationError) -> JSONValue {
        guard let arguments, !arguments.isNull else { return .object([:]) }
        guard let text = arguments.stringValue else {
            throw TranslationError("'arguments' must be a string of JSON.", param: path)
        }
        if text.allSatisfy(\.isWhitespace) { return .object([:]) }
        guard let parsed = try? JSONValue(parsing: text.utf8) else {
            throw TranslationError("'arguments' is not valid JSON.", param: path)
        }
        guard case .object = parsed else { throw TranslationError("'arguments' must be a JSON object.", param: path) }
        return parsed
    }

    /// A `tool` message as a tool_result block (it joins the user turn that follows the tool calls).
    private static func toolResult(_ fields: [String: JSONValue], path: String) throws(TranslationError) -> JSONValue {
        guard let id = fields["tool_call_id"]?.stringValue, !id.isEmpty else {
            throw TranslationError("A tool message needs 'tool_call_id'.", param: path + ".tool_call_id")
        }
        var block: [String: JSONValue] = ["type": "tool_result", "tool_use_id": .string(id)]
        switch fields["content"] ?? .null {
        case .string(let text):
            if !text.isEmpty { block["content"] = .string(text) }
        case .null:
            break
        case .array, .bool, .int, .double, .object:
            let blocks = try Self.contentBlocks(fields["content"], path: path + ".content")
            if !blocks.isEmpty { block["content"] = .array(blocks) }
        }
        return .object(block)
    }

    // MARK: - Parameters

    private static func maxTokens(_ chat: [String: JSONValue]) throws(TranslationError) -> Int64 {
        for key in ["max_completion_tokens", "max_tokens"] {
            guard let value = chat[key], !value.isNull else { continue }
            guard let count = value.intValue, count >= 1 else {
                throw TranslationError("'\(key)' must be an integer of at least 1.", param: key)
            }
            return count
        }
        return Self.defaultMaxTokens
    }

    private static func tools(_ tools: JSONValue?) throws(TranslationError) -> [JSONValue] {
        guard let tools, !tools.isNull else { return [] }
        guard let list = tools.arrayValue else { throw TranslationError("'tools' must be an array.", param: "tools") }
        var result: [JSONValue] = []
        for (offset, tool) in list.enumerated() {
            let path = "tools[\(offset)]"
            guard (tool["type"]?.stringValue ?? "function") == "function" else {
                throw TranslationError("Only function tools can be sent to an Anthropic model.", param: path + ".type")
            }
            guard let function = tool["function"], case .object = function else {
                throw TranslationError("A tool needs a 'function' object.", param: path + ".function")
            }
            guard let name = function["name"]?.stringValue, !name.isEmpty else {
                throw TranslationError("A tool needs 'function.name'.", param: path + ".function.name")
            }
            var spec: [String: JSONValue] = ["name": .string(name)]
            if let description = function["description"]?.stringValue { spec["description"] = .string(description) }
            if let parameters = function["parameters"], !parameters.isNull {
                guard case .object = parameters else {
                    throw TranslationError("'function.parameters' must be a JSON Schema object.", param: path + ".function.parameters")
                }
                spec["input_schema"] = parameters
            } else {
                spec["input_schema"] = ["type": "object", "properties": .object([:])]
            }
            result.append(.object(spec))
        }
        return result
    }

    private static func toolChoice(_ choice: JSONValue?) throws(TranslationError) -> [String: JSONValue]? {
        guard let choice, !choice.isNull else { return nil }
        switch choice {
        case .string("auto"): return ["type": "auto"]
        case .string("none"): return ["type": "none"]
        case .string("required"): return ["type": "any"]
        case .object:
            guard let name = choice["function"]?["name"]?.stringValue, !name.isEmpty else {
                throw TranslationError("'tool_choice' must name a function.", param: "tool_choice.function.name")
            }
            return ["type": "tool", "name": .string(name)]
        default:
            throw TranslationError("'tool_choice' must be 'auto', 'none', 'required' or a function.", param: "tool_choice")
        }
    }

    private static func stopSequences(_ stop: JSONValue?) throws(TranslationError) -> [JSONValue] {
        switch stop ?? .null {
        case .null: return []
        case .string(let text): return text.isEmpty ? [] : [.string(text)]
        case .array(let list):
            var result: [JSONValue] = []
            for (offset, item) in list.enumerated() {
                guard let text = item.stringValue else {
                    throw TranslationError("Stop sequences must be strings.", param: "stop[\(offset)]")
                }
                if !text.isEmpty { result.append(.string(text)) }
            }
            return result
        case .bool, .int, .double, .object:
            throw TranslationError("'stop' must be a string or an array of strings.", param: "stop")
        }
    }

    private static func number(_ value: JSONValue) -> Double? {
        switch value {
        case .int(let number): Double(number)
        case .double(let number): number
        default: nil
        }
    }
}
