public import SwitchyardCore

/// Anthropic client (`POST /v1/messages`) → router, and the router's canonical (OpenAI) answers
/// back to that client.
///
/// What does not carry over:
/// - Rejected (400, naming the parameter): server tools (`web_search_…`, `bash_…` and other typed
///   tools), document blocks other than base64 PDFs and plain text, content block types the
///   router does not know.
/// - Dropped: `top_k` (no OpenAI equivalent), `thinking`, `service_tier`, `container`,
///   `mcp_servers`, `cache_control` markers, and thinking/redacted_thinking blocks from earlier
///   assistant turns (OpenAI-shaped targets cannot take them back).
/// - Adjusted: a `tool_result` marked `is_error` gets the prefix "Error: "; images inside a
///   `tool_result` follow the tool messages in a user message (OpenAI tool messages carry text
///   only); Anthropic's `max_tokens` is sent as `max_tokens`.
public enum AnthropicInbound {
    /// An Anthropic `/v1/messages` request → an OpenAI chat body. `model` stays as the client sent it.
    public static func chatRequest(_ body: JSONValue) throws(APIError) -> JSONValue {
        guard case .object(let fields) = body else { throw APIError.invalidRequest("The request body must be a JSON object.") }
        guard let model = fields["model"]?.stringValue, !model.isEmpty else {
            throw Self.invalid("model", fields["model"] == nil ? "Field required" : "Input should be a non-empty string")
        }
        guard let maxValue = fields["max_tokens"], !maxValue.isNull else { throw Self.invalid("max_tokens", "Field required") }
        guard let maxTokens = maxValue.intValue else { throw Self.invalid("max_tokens", "Input should be a valid integer") }
        guard maxTokens >= 1 else { throw Self.invalid("max_tokens", "Input should be greater than or equal to 1") }
        guard let messagesValue = fields["messages"], !messagesValue.isNull else { throw Self.invalid("messages", "Field required") }
        guard let messages = messagesValue.arrayValue else { throw Self.invalid("messages", "Input should be a valid list") }
        guard !messages.isEmpty else { throw Self.invalid("messages", "At least one message is required") }

        var chatMessages: [JSONValue] = []
        if let system = fields["system"], !system.isNull {
            let text = try Self.systemText(system)
            if !text.isEmpty { chatMessages.append(["role": "system", "content": .string(text)]) }
        }
        for (offset, message) in messages.enumerated() {
            try Self.appendMessage(message, path: "messages[\(offset)]", to: &chatMessages)
        }

        var chat: [String: JSONValue] = [
            "model": .string(model),
            "messages": .array(chatMessages),
            "max_tokens": .int(maxTokens),
        ]
        let tools = try Self.tools(fields["tools"])
        if !tools.isEmpty {
            chat["tools"] = .array(tools)
            if let choice = fields["tool_choice"], !choice.isNull {
                let (toolChoice, parallel) = try Self.toolChoice(choice)
                chat["tool_choice"] = toolChoice
                if !parallel { chat["parallel_tool_calls"] = false }
            }
        }
        if let stop = fields["stop_sequences"], !stop.isNull {
            guard let list = stop.arrayValue else { throw Self.invalid("stop_sequences", "Input should be a valid list") }
            for (offset, item) in list.enumerated() where item.stringValue == nil {
                throw Self.invalid("stop_sequences[\(offset)]", "Input should be a valid string")
            }
            if !list.isEmpty { chat["stop"] = .array(list) }
        }
        for key in ["temperature", "top_p"] {
            guard let value = fields[key], !value.isNull else { continue }
            switch value {
            case .int, .double: chat[key] = value
            default: throw Self.invalid(key, "Input should be a valid number")
            }
        }
        if let metadata = fields["metadata"], !metadata.isNull {
            guard case .object = metadata else { throw Self.invalid("metadata", "Input should be a valid dictionary") }
            if let user = metadata["user_id"], !user.isNull {
                guard let id = user.stringValue else { throw Self.invalid("metadata.user_id", "Input should be a valid string") }
                chat["user"] = .string(id)
            }
            // A Switchyard prompt's variables, for the router only (never sent upstream).
            if let variables = metadata["prompt_variables"], !variables.isNull {
                chat["metadata"] = ["prompt_variables": variables]
            }
        }
        if let stream = fields["stream"], !stream.isNull {
            guard let flag = stream.boolValue else { throw Self.invalid("stream", "Input should be a valid boolean") }
            if flag {
                chat["stream"] = true
                chat["stream_options"] = ["include_usage": true]
            }
        }
        return .object(chat)
    }

    /// An OpenAI `chat.completion` → an Anthropic message. `model` is the name to report (the
    /// client's alias). Tool arguments that are not a JSON object become `{}`.
    public static func response(_ completion: JSONValue, model: String) -> JSONValue {
        let choice = completion["choices"]?[0]
        let message = choice?["message"]
        var content: [JSONValue] = []
        let text = Self.text(of: message?["content"])
        if !text.isEmpty {
            content.append(["type": "text", "text": .string(text)])
        } else if let refusal = message?["refusal"]?.stringValue, !refusal.isEmpty {
            content.append(["type": "text", "text": .string(refusal)])
        }
        var usedTools = false
        for (offset, call) in (message?["tool_calls"]?.arrayValue ?? []).enumerated() {
            var input: JSONValue = .object([:])
            if let arguments = call["function"]?["arguments"]?.stringValue, let parsed = try? JSONValue(parsing: arguments.utf8),
                case .object = parsed
            {
                input = parsed
            }
            let block: [String: JSONValue] = [
                "type": "tool_use",
                "id": .string(call["id"]?.stringValue ?? "toolu_\(offset)"),
                "name": .string(call["function"]?["name"]?.stringValue ?? ""),
                "input": input,
            ]
            content.append(.object(block))
            usedTools = true
        }
        var stopReason = AnthropicWire.stopReason(choice?["finish_reason"]?.stringValue)
        // Some OpenAI-compatible servers finish tool calls with "stop".
        if stopReason == "end_turn", usedTools { stopReason = "tool_use" }

        let usage: JSONValue = [
            "input_tokens": .int(AnthropicWire.count(completion["usage"]?["prompt_tokens"])),
            "output_tokens": .int(AnthropicWire.count(completion["usage"]?["completion_tokens"])),
        ]
        let result: [String: JSONValue] = [
            "id": .string(Self.messageID(completionID: completion["id"]?.stringValue)),
            "type": "message",
            "role": "assistant",
            "model": .string(model),
            "content": .array(content),
            "stop_reason": .string(stopReason),
            "stop_sequence": .null,
            "usage": usage,
        ]
        return .object(result)
    }

    /// The Anthropic-shaped error body for a router error: `{"type":"error","error":{"type":…,"message":…}}`.
    public static func errorBody(_ error: APIError) -> JSONValue {
        let details: JSONValue = ["type": .string(Self.errorType(status: error.status)), "message": .string(error.message)]
        return ["type": "error", "error": details]
    }

    // MARK: - Helpers

    /// Anthropic's error type for an HTTP status.
    static func errorType(status: Int) -> String {
        switch status {
        case 401: "authentication_error"
        case 403: "permission_error"
        case 404: "not_found_error"
        case 413: "request_too_large"
        case 429: "rate_limit_error"
        case 529: "overloaded_error"
        case 400..<500: "invalid_request_error"
        default: "api_error"
        }
    }

    /// `msg_` + the completion id without OpenAI's `chatcmpl-` prefix.
    static func messageID(completionID: String?) -> String {
        var base = Substring(completionID ?? "")
        if base.hasPrefix("chatcmpl-") { base = base.dropFirst("chatcmpl-".count) }
        return base.isEmpty ? "msg_switchyard" : "msg_\(base)"
    }

    private static func invalid(_ param: String, _ message: String) -> APIError {
        .invalidRequest("\(param): \(message)", param: param)
    }

    /// OpenAI message content as plain text: a string, or its text parts concatenated.
    private static func text(of content: JSONValue?) -> String {
        switch content ?? .null {
        case .string(let text): return text
        case .array(let parts): return parts.compactMap { $0["type"]?.stringValue == "text" ? $0["text"]?.stringValue : nil }.joined()
        case .null, .bool, .int, .double, .object: return ""
        }
    }

    private static func systemText(_ system: JSONValue) throws(APIError) -> String {
        switch system {
        case .string(let text): return text
        case .array(let blocks):
            var texts: [String] = []
            for (offset, block) in blocks.enumerated() {
                guard block["type"]?.stringValue == "text" else { throw Self.invalid("system[\(offset)].type", "Input should be 'text'") }
                guard let text = block["text"]?.stringValue else { throw Self.invalid("system[\(offset)].text", "Field required") }
                texts.append(text)
            }
            return texts.joined(separator: "\n\n")
        case .null, .bool, .int, .double, .object:
            throw Self.invalid("system", "Input should be a valid string or list of text blocks")
        }
    }

    private static func appendMessage(_ message: JSONValue, path: String, to out: inout [JSONValue]) throws(APIError) {
        guard case .object(let fields) = message else { throw Self.invalid(path, "Input should be a valid dictionary") }
        guard let role = fields["role"]?.stringValue, role == "user" || role == "assistant" else {
            throw Self.invalid(path + ".role", "Input should be 'user' or 'assistant'")
        }
        guard let content = fields["content"], !content.isNull else { throw Self.invalid(path + ".content", "Field required") }
        switch content {
        case .string(let text):
            out.append(["role": .string(role), "content": .string(text)])
        case .array(let blocks):
            if role == "user" {
                try Self.appendUser(blocks, path: path + ".content", to: &out)
            } else {
                let assistant = try Self.assistantMessage(blocks, path: path + ".content")
                out.append(assistant)
            }
        case .null, .bool, .int, .double, .object:
            throw Self.invalid(path + ".content", "Input should be a valid string or list of content blocks")
        }
    }

    /// A user turn's blocks: tool results become `tool` messages (first, as OpenAI wants them right
    /// after the assistant's tool calls), everything else one user message after them.
    private static func appendUser(_ blocks: [JSONValue], path: String, to out: inout [JSONValue]) throws(APIError) {
        var parts: [JSONValue] = []
        for (offset, block) in blocks.enumerated() {
            let blockPath = "\(path)[\(offset)]"
            guard case .object = block else { throw Self.invalid(blockPath, "Input should be a valid dictionary") }
            switch block["type"]?.stringValue ?? "" {
            case "text":
                guard let text = block["text"]?.stringValue else { throw Self.invalid(blockPath + ".text", "Field required") }
                parts.append(["type": "text", "text": .string(text)])
            case "image":
                let part = try Self.imagePart(block, path: blockPath)
                parts.append(part)
            case "document":
                let part = try Self.documentPart(block, path: blockPath)
                parts.append(part)
            case "tool_result":
                guard let id = block["tool_use_id"]?.stringValue, !id.isEmpty else {
                    throw Self.invalid(blockPath + ".tool_use_id", "Field required")
                }
                let (text, images) = try Self.toolResultContent(block["content"], path: blockPath + ".content")
                let content = block["is_error"]?.boolValue == true ? "Error: " + text : text
                out.append(["role": "tool", "tool_call_id": .string(id), "content": .string(content)])
                if !images.isEmpty {
                    parts.append(["type": "text", "text": .string("Images returned by tool call \(id):")])
                    parts.append(contentsOf: images)
                }
            default:
                throw Self.invalid(blockPath + ".type", "Input should be 'text', 'image', 'document' or 'tool_result'")
            }
        }
        guard !parts.isEmpty else { return }
        if parts.count == 1, parts[0]["type"]?.stringValue == "text", let text = parts[0]["text"] {
            out.append(["role": "user", "content": text])
        } else {
            out.append(["role": "user", "content": .array(parts)])
        }
    }

    /// An assistant turn: text joined into `content`, tool_use blocks into `tool_calls`.
    private static func assistantMessage(_ blocks: [JSONValue], path: String) throws(APIError) -> JSONValue {
        var text = ""
        var calls: [JSONValue] = []
        for (offset, block) in blocks.enumerated() {
            let blockPath = "\(path)[\(offset)]"
            guard case .object = block else { throw Self.invalid(blockPath, "Input should be a valid dictionary") }
            switch block["type"]?.stringValue ?? "" {
            case "text":
                guard let piece = block["text"]?.stringValue else { throw Self.invalid(blockPath + ".text", "Field required") }
                text += piece
            case "tool_use":
                guard let id = block["id"]?.stringValue, !id.isEmpty else { throw Self.invalid(blockPath + ".id", "Field required") }
                guard let name = block["name"]?.stringValue, !name.isEmpty else {
                    throw Self.invalid(blockPath + ".name", "Field required")
                }
                let function: JSONValue = ["name": .string(name), "arguments": .string(AnthropicWire.argumentsText(block["input"]))]
                calls.append(["id": .string(id), "type": "function", "function": function])
            case "thinking", "redacted_thinking":
                continue
            default:
                throw Self.invalid(blockPath + ".type", "Input should be 'text', 'tool_use', 'thinking' or 'redacted_thinking'")
            }
        }
        var message: [String: JSONValue] = ["role": "assistant"]
        let content: JSONValue = text.isEmpty && !calls.isEmpty ? .null : .string(text)
        message["content"] = content
        if !calls.isEmpty { message["tool_calls"] = .array(calls) }
        return .object(message)
    }

    private static func imagePart(_ block: JSONValue, path: String) throws(APIError) -> JSONValue {
        guard let source = block["source"], case .object = source else { throw Self.invalid(path + ".source", "Field required") }
        let url: String
        switch source["type"]?.stringValue ?? "" {
        case "base64":
            guard let mediaType = source["media_type"]?.stringValue, !mediaType.isEmpty else {
                throw Self.invalid(path + ".source.media_type", "Field required")
            }
            guard let data = source["data"]?.stringValue else { throw Self.invalid(path + ".source.data", "Field required") }
            url = "data:\(mediaType);base64,\(data)"
        case "url":
            guard let link = source["url"]?.stringValue, AnthropicWire.isWebURL(link) else {
                throw Self.invalid(path + ".source.url", "Input should be an http(s) URL")
            }
            url = link
        default:
            throw Self.invalid(path + ".source.type", "Input should be 'base64' or 'url'")
        }
        return ["type": "image_url", "image_url": ["url": .string(url)]]
    }

    /// Base64 PDFs become OpenAI `file` parts; plain-text documents become text.
    private static func documentPart(_ block: JSONValue, path: String) throws(APIError) -> JSONValue {
        guard let source = block["source"], case .object = source else { throw Self.invalid(path + ".source", "Field required") }
        switch source["type"]?.stringValue ?? "" {
        case "base64" where source["media_type"]?.stringValue == "application/pdf":
            guard let data = source["data"]?.stringValue else { throw Self.invalid(path + ".source.data", "Field required") }
            let file: JSONValue = [
                "filename": .string(block["title"]?.stringValue ?? "document.pdf"),
                "file_data": .string("data:application/pdf;base64,\(data)"),
            ]
            return ["type": "file", "file": file]
        case "text":
            guard let data = source["data"]?.stringValue else { throw Self.invalid(path + ".source.data", "Field required") }
            return ["type": "text", "text": .string(data)]
        default:
            throw Self.invalid(path + ".source.type", "Only base64 PDF and plain-text documents can be routed")
        }
    }

    /// A tool_result's content: its text, and any images (which OpenAI tool messages cannot carry).
    private static func toolResultContent(_ content: JSONValue?, path: String) throws(APIError) -> (String, [JSONValue]) {
        switch content ?? .null {
        case .null: return ("", [])
        case .string(let text): return (text, [])
        case .array(let blocks):
            var texts: [String] = []
            var images: [JSONValue] = []
            for (offset, block) in blocks.enumerated() {
                let blockPath = "\(path)[\(offset)]"
                switch block["type"]?.stringValue ?? "" {
                case "text":
                    guard let text = block["text"]?.stringValue else { throw Self.invalid(blockPath + ".text", "Field required") }
                    texts.append(text)
                case "image":
                    let image = try Self.imagePart(block, path: blockPath)
                    images.append(image)
                default:
                    throw Self.invalid(blockPath + ".type", "Input should be 'text' or 'image'")
                }
            }
            return (texts.joined(separator: "\n"), images)
        case .bool, .int, .double, .object:
            throw Self.invalid(path, "Input should be a valid string or list of content blocks")
        }
    }

    private static func tools(_ tools: JSONValue?) throws(APIError) -> [JSONValue] {
        guard let tools, !tools.isNull else { return [] }
        guard let list = tools.arrayValue else { throw Self.invalid("tools", "Input should be a valid list") }
        var result: [JSONValue] = []
        for (offset, tool) in list.enumerated() {
            let path = "tools[\(offset)]"
            guard case .object = tool else { throw Self.invalid(path, "Input should be a valid dictionary") }
            if let type = tool["type"]?.stringValue, type != "custom" {
                throw Self.invalid(path + ".type", "Server tool '\(type)' is not supported by this router; only client tools can be routed")
            }
            guard let name = tool["name"]?.stringValue, !name.isEmpty else { throw Self.invalid(path + ".name", "Field required") }
            guard let schema = tool["input_schema"], case .object = schema else {
                throw Self.invalid(path + ".input_schema", "Input should be a valid dictionary")
            }
            var function: [String: JSONValue] = ["name": .string(name), "parameters": schema]
            if let description = tool["description"]?.stringValue { function["description"] = .string(description) }
            result.append(["type": "function", "function": .object(function)])
        }
        return result
    }

    /// OpenAI's `tool_choice`, and whether parallel tool calls stay allowed.
    private static func toolChoice(_ choice: JSONValue) throws(APIError) -> (JSONValue, Bool) {
        guard case .object = choice else { throw Self.invalid("tool_choice", "Input should be a valid dictionary") }
        let parallel = choice["disable_parallel_tool_use"]?.boolValue != true
        switch choice["type"]?.stringValue ?? "" {
        case "auto": return ("auto", parallel)
        case "any": return ("required", parallel)
        case "none": return ("none", true)
        case "tool":
            guard let name = choice["name"]?.stringValue, !name.isEmpty else { throw Self.invalid("tool_choice.name", "Field required") }
            let function: JSONValue = ["name": .string(name)]
            return (["type": "function", "function": function], parallel)
        default:
            throw Self.invalid("tool_choice.type", "Input should be 'auto', 'any', 'tool' or 'none'")
        }
    }
}
