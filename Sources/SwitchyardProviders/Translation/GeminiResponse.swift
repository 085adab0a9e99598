public import SwitchyardCore

extension GeminiOutbound {
    /// Gemini `generateContent` response → OpenAI `chat.completion`.
    ///
    /// The first candidate is used: its text parts are joined (thought parts are left out), its
    /// `functionCall` parts become `tool_calls` with arguments serialised with sorted keys. A prompt
    /// blocked before any candidate (`promptFeedback.blockReason`) becomes an empty `content_filter`
    /// answer. `usageMetadata` becomes `usage`, thinking tokens counted as completion tokens.
    public static func response(_ json: JSONValue, model: String, id: String, created: Int64) throws(TranslationError) -> JSONValue {
        guard case .object = json else {
            throw TranslationError("The Gemini response is not a JSON object.")
        }
        var message: [String: JSONValue] = ["role": .string("assistant")]
        let finishReason: String
        if let candidate = json["candidates"]?[0] {
            let output = try CandidateOutput(candidate)
            var toolCalls: [JSONValue] = []
            for (index, call) in output.calls.enumerated() {
                toolCalls.append(Self.toolCall(call, index: index, completionID: id, streamIndex: nil))
            }
            let content: JSONValue = output.text.isEmpty && !toolCalls.isEmpty ? .null : .string(output.text)
            message["content"] = content
            if !toolCalls.isEmpty {
                message["tool_calls"] = .array(toolCalls)
            }
            finishReason = Self.finishReason(candidate["finishReason"]?.stringValue ?? "STOP", hasToolCalls: !toolCalls.isEmpty)
        } else if let blockReason = json["promptFeedback"]?["blockReason"], !blockReason.isNull {
            message["content"] = .string("")
            finishReason = "content_filter"
        } else {
            throw TranslationError("The Gemini response has no candidates.")
        }
        let choice: JSONValue = .object([
            "index": .int(0),
            "message": .object(message),
            "finish_reason": .string(finishReason),
            "logprobs": .null,
        ])
        var completion: [String: JSONValue] = [
            "id": .string(id),
            "object": .string("chat.completion"),
            "created": .int(created),
            "model": .string(model),
            "choices": .array([choice]),
        ]
        if let usage = Self.usage(json["usageMetadata"]) {
            completion["usage"] = usage.json
        }
        return .object(completion)
    }

    /// Gemini error body `{"error": {"code", "message", "status"}}` (or a one-element array of
    /// them, as streams send) → its message, for logs. Never relay it raw to clients.
    public static func errorMessage(_ json: JSONValue) -> String? {
        if case .array(let list) = json, let first = list.first {
            return Self.errorMessage(first)
        }
        guard let error = json["error"] else { return nil }
        return error["message"]?.stringValue ?? error["status"]?.stringValue
    }

    // MARK: - Shared with the stream decoder

    /// A function call the model made: its name and its arguments as JSON text.
    struct FunctionCall {
        var name: String
        var arguments: String
    }

    /// What one candidate (or one streamed piece of it) says.
    struct CandidateOutput {
        var text = ""
        var calls: [FunctionCall] = []

        init(_ candidate: JSONValue) throws(TranslationError) {
            guard let parts = candidate["content"]?["parts"]?.arrayValue else { return }
            for part in parts {
                if let call = part["functionCall"], !call.isNull {
                    guard let name = call["name"]?.stringValue, !name.isEmpty else {
                        throw TranslationError("Gemini returned a function call without a name.")
                    }
                    var arguments: JSONValue = .object([:])
                    if let args = call["args"], !args.isNull {
                        arguments = args
                    }
                    let text = String(decoding: arguments.serialized(sortedKeys: true), as: UTF8.self)
                    self.calls.append(FunctionCall(name: name, arguments: text))
                } else if let text = part["text"]?.stringValue, part["thought"]?.boolValue != true {
                    self.text += text
                }
                // Thoughts, inline data, executable code and the like have no chat-completions form.
            }
        }
    }

    /// An OpenAI tool call; `streamIndex` set gives the streaming form (with its `index`).
    static func toolCall(_ call: FunctionCall, index: Int, completionID: String, streamIndex: Int?) -> JSONValue {
        var object: [String: JSONValue] = [
            "id": .string(Self.toolCallID(completionID: completionID, index: index)),
            "type": .string("function"),
            "function": .object(["name": .string(call.name), "arguments": .string(call.arguments)]),
        ]
        if let streamIndex {
            object["index"] = .int(Int64(streamIndex))
        }
        return .object(object)
    }

    /// Gemini gives calls no ids: derive one from the completion id and the call's position, so
    /// ids are stable for a response and differ between responses (`chatcmpl-abc` → `call_abc_0`).
    static func toolCallID(completionID: String, index: Int) -> String {
        let prefix = "chatcmpl-"
        let tail = completionID.hasPrefix(prefix) ? String(completionID.dropFirst(prefix.count)) : completionID
        return "call_\(tail)_\(index)"
    }

    /// Gemini `finishReason` → OpenAI `finish_reason`.
    static func finishReason(_ reason: String, hasToolCalls: Bool) -> String {
        switch reason {
        case "MAX_TOKENS":
            return "length"
        case "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII",
            "IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION":
            return "content_filter"
        default:
            // STOP, and the reasons with no OpenAI counterpart (LANGUAGE, OTHER, MALFORMED_FUNCTION_CALL, …).
            return hasToolCalls ? "tool_calls" : "stop"
        }
    }

    /// `usage` in OpenAI's shape and as counts.
    struct UsageReport {
        var json: JSONValue
        var usage: Usage
    }

    /// `usageMetadata` → usage. Completion tokens include thinking tokens (billed as output); prompt
    /// tokens include tool-use prompt tokens. Counts are clamped to 0…1e9 (upstreams are not trusted).
    static func usage(_ metadata: JSONValue?) -> UsageReport? {
        guard let metadata, case .object(let fields) = metadata else { return nil }
        func count(_ key: String) -> Int64 {
            min(max(fields[key]?.intValue ?? 0, 0), 1_000_000_000)
        }
        let thoughts = count("thoughtsTokenCount")
        let prompt = count("promptTokenCount") + count("toolUsePromptTokenCount")
        let completion = count("candidatesTokenCount") + thoughts
        let total = fields["totalTokenCount"] == nil ? prompt + completion : count("totalTokenCount")
        var json: [String: JSONValue] = [
            "prompt_tokens": .int(prompt),
            "completion_tokens": .int(completion),
            "total_tokens": .int(total),
        ]
        let cached = count("cachedContentTokenCount")
        if cached > 0 {
            json["prompt_tokens_details"] = .object(["cached_tokens": .int(cached)])
        }
        if thoughts > 0 {
            json["completion_tokens_details"] = .object(["reasoning_tokens": .int(thoughts)])
        }
        return UsageReport(json: .object(json), usage: Usage(promptTokens: Int(prompt), completionTokens: Int(completion)))
    }
}
