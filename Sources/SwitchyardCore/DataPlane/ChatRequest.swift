/// A parsed `POST /v1/chat/completions` body. The router reads the fields it needs and leaves
/// every other field as the client sent it.
public struct ChatRequest: Sendable {
    public var body: [String: JSONValue]
    public var model: String
    public var stream: Bool
    /// Whether the client asked for the final usage chunk (`stream_options.include_usage`).
    public var includeUsage: Bool

    /// The error for a request without messages (a prompt's user template may supply them).
    public static let noMessages = APIError.invalidRequest(
        "'messages' must contain at least one message.",
        param: "messages",
        code: "empty_array"
    )

    /// Validates the parts of the body the router relies on. `allowEmptyMessages` defers the
    /// check for an empty `messages` list to the caller, who knows whether a prompt fills it.
    public init(json: JSONValue, allowEmptyMessages: Bool = false) throws(APIError) {
        guard case .object(let body) = json else {
            throw .invalidRequest("The request body must be a JSON object.")
        }
        guard let modelValue = body["model"], !modelValue.isNull else {
            throw .invalidRequest("You must provide a model parameter.", param: "model", code: "missing_required_parameter")
        }
        guard let model = modelValue.stringValue, !model.isEmpty else {
            throw .invalidRequest("'model' must be a non-empty string.", param: "model", code: "invalid_type")
        }
        guard let messages = body["messages"] else {
            throw .invalidRequest("Missing required parameter: 'messages'.", param: "messages", code: "missing_required_parameter")
        }
        guard let list = messages.arrayValue else {
            throw .invalidRequest("'messages' must be an array.", param: "messages", code: "invalid_type")
        }
        guard !list.isEmpty || allowEmptyMessages else { throw Self.noMessages }
        var stream = false
        if let value = body["stream"], !value.isNull {
            guard let flag = value.boolValue else {
                throw .invalidRequest("'stream' must be a boolean.", param: "stream", code: "invalid_type")
            }
            stream = flag
        }
        var includeUsage = false
        if let options = body["stream_options"], !options.isNull {
            guard stream else {
                throw .invalidRequest(
                    "'stream_options' is only allowed when 'stream' is true.",
                    param: "stream_options",
                    code: "invalid_value"
                )
            }
            guard case .object(let fields) = options else {
                throw .invalidRequest("'stream_options' must be an object.", param: "stream_options", code: "invalid_type")
            }
            if let flag = fields["include_usage"], !flag.isNull {
                guard let value = flag.boolValue else {
                    throw .invalidRequest(
                        "'stream_options.include_usage' must be a boolean.",
                        param: "stream_options.include_usage",
                        code: "invalid_type"
                    )
                }
                includeUsage = value
            }
        }
        self.body = body
        self.model = model
        self.stream = stream
        self.includeUsage = includeUsage
    }

    /// The body to send upstream: the catalog model replaced by the provider's model name, and,
    /// when streaming, usage always requested so every request can be accounted for. The usage
    /// chunk is only relayed to clients that asked for it.
    public func upstreamBody(upstreamModel: String, params: [String: JSONValue] = [:]) -> JSONValue {
        var body = self.body
        body["model"] = .string(upstreamModel)
        // Prompt variables are the router's input, never the provider's (OpenAI's `metadata`
        // takes strings only).
        if case .object(var metadata) = body["metadata"] ?? .null, metadata["prompt_variables"] != nil {
            metadata["prompt_variables"] = nil
            body["metadata"] = metadata.isEmpty ? nil : .object(metadata)
        }
        for (name, value) in params { body[name] = value }
        // Overriding one token limit must not leave the client's other one in place: providers
        // reject both.
        if params["max_tokens"] != nil, params["max_completion_tokens"] == nil { body["max_completion_tokens"] = nil }
        if params["max_completion_tokens"] != nil, params["max_tokens"] == nil { body["max_tokens"] = nil }
        if self.stream {
            var options = body["stream_options"]?.objectValue ?? [:]
            options["include_usage"] = true
            body["stream_options"] = .object(options)
        }
        return .object(body)
    }
}

extension ChatRequest {
    /// An upper bound of the prompt's tokens, for budget reservations: a token is at least one
    /// byte of text, plus framing per message and up to 1 500 tokens per image.
    public var promptTokenUpperBound: Int {
        var tokens = 0
        for message in self.body["messages"]?.arrayValue ?? [] {
            tokens += 8
            switch message["content"] ?? .null {
            case .string(let text):
                tokens += text.utf8.count
            case .array(let parts):
                for part in parts {
                    if let text = part["text"]?.stringValue { tokens += text.utf8.count } else { tokens += 1_500 }
                }
            default:
                break
            }
            for call in message["tool_calls"]?.arrayValue ?? [] { tokens += call.serialized().count }
        }
        if let tools = self.body["tools"] { tokens += tools.serialized().count }
        return tokens
    }

    /// The most output tokens the request allows (`max_completion_tokens`, `max_tokens`), or
    /// `fallback` when it sets no limit.
    public func maxOutputTokens(fallback: Int) -> Int {
        let asked = self.body["max_completion_tokens"]?.intValue ?? self.body["max_tokens"]?.intValue
        return asked.map { Int(max(0, min($0, 10_000_000))) } ?? fallback
    }

    /// Whether the body carries at least one message.
    public var hasMessages: Bool { !(self.body["messages"]?.arrayValue?.isEmpty ?? true) }

    /// What the client sent as the prompt's variables (`metadata.prompt_variables`).
    public var promptVariables: JSONValue? {
        guard case .object(let metadata) = self.body["metadata"] ?? .null else { return nil }
        return metadata["prompt_variables"]
    }

    /// The body's `user`, when it is a string.
    public var user: String? { self.body["user"]?.stringValue }

    /// String values of the body's `metadata` object.
    public var metadata: [String: String] {
        guard case .object(let fields) = self.body["metadata"] ?? .null else { return [:] }
        return fields.compactMapValues(\.stringValue)
    }

    /// Whether the body offers tools.
    public var hasTools: Bool { !(self.body["tools"]?.arrayValue?.isEmpty ?? true) }

    /// A cheap estimate of the prompt's tokens, for routing rules (`prompt_tokens`): about four
    /// bytes of text per token, four tokens of framing per message, 85 per image, plus the tool
    /// definitions. Deliberately tokenizer-free: it runs on every request that asks for it.
    public var estimatedPromptTokens: Int {
        var bytes = 0
        var extra = 0
        for message in self.body["messages"]?.arrayValue ?? [] {
            extra += 4
            switch message["content"] ?? .null {
            case .string(let text):
                bytes += text.utf8.count
            case .array(let parts):
                for part in parts {
                    if let text = part["text"]?.stringValue { bytes += text.utf8.count } else { extra += 85 }
                }
            default:
                break
            }
            for call in message["tool_calls"]?.arrayValue ?? [] {
                bytes += call["function"]?["arguments"]?.stringValue?.utf8.count ?? 0
            }
        }
        if let tools = self.body["tools"] { bytes += tools.serialized().count }
        return (bytes + 3) / 4 + extra
    }
}

/// Token counts reported by an upstream.
public struct Usage: Sendable, Hashable {
    public var promptTokens: Int
    public var completionTokens: Int
    /// Prompt tokens the provider served from its cache (`prompt_tokens_details.cached_tokens`).
    public var cachedTokens: Int

    public init(promptTokens: Int, completionTokens: Int, cachedTokens: Int = 0) {
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.cachedTokens = cachedTokens
    }

    /// Reads `usage` from a chat completion or chunk, if present.
    public init?(completion: JSONValue) {
        guard let usage = completion["usage"], case .object = usage else { return nil }
        // Upstreams are not trusted to send sane numbers: keep counts in 0...1e9.
        self.promptTokens = Int(min(max(usage["prompt_tokens"]?.intValue ?? 0, 0), 1_000_000_000))
        self.completionTokens = Int(min(max(usage["completion_tokens"]?.intValue ?? 0, 0), 1_000_000_000))
        self.cachedTokens = Int(min(max(usage["prompt_tokens_details"]?["cached_tokens"]?.intValue ?? 0, 0), 1_000_000_000))
    }
}

extension JSONValue {
    /// Whether a stream chunk carries part of the answer (text, a refusal, a tool call, a finish
    /// reason or the usage), as opposed to a role-only opening chunk. A router commits to an
    /// upstream's stream at the first such chunk: until then it may still fall back.
    public var carriesOutput: Bool {
        if self.isUsageOnlyChunk { return true }
        for choice in self["choices"]?.arrayValue ?? [] {
            if let reason = choice["finish_reason"], !reason.isNull { return true }
            guard let delta = choice["delta"] else { continue }
            if let text = delta["content"]?.stringValue, !text.isEmpty { return true }
            if let refusal = delta["refusal"]?.stringValue, !refusal.isEmpty { return true }
            if let calls = delta["tool_calls"]?.arrayValue, !calls.isEmpty { return true }
        }
        return false
    }

    /// Whether this chunk is the usage-only chunk of a stream (`choices` empty, `usage` set).
    public var isUsageOnlyChunk: Bool {
        guard let usage = self["usage"], !usage.isNull else { return false }
        return self["choices"]?.arrayValue?.isEmpty ?? true
    }
}
