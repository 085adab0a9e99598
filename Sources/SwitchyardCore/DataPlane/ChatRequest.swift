/// A parsed `POST /v1/chat/completions` body. The router reads the fields it needs and leaves
/// every other field as the client sent it.
public struct ChatRequest: Sendable {
    public var body: [String: JSONValue]
    public var model: String
    public var stream: Bool
    /// Whether the client asked for the final usage chunk (`stream_options.include_usage`).
    public var includeUsage: Bool

    /// Validates the parts of the body the router relies on.
    public init(json: JSONValue) throws(APIError) {
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
        guard !list.isEmpty else {
            throw .invalidRequest("'messages' must contain at least one message.", param: "messages", code: "empty_array")
        }
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
    public func upstreamBody(upstreamModel: String) -> JSONValue {
        var body = self.body
        body["model"] = .string(upstreamModel)
        if self.stream {
            var options = body["stream_options"]?.objectValue ?? [:]
            options["include_usage"] = true
            body["stream_options"] = .object(options)
        }
        return .object(body)
    }
}

/// Token counts reported by an upstream.
public struct Usage: Sendable, Hashable {
    public var promptTokens: Int
    public var completionTokens: Int

    public init(promptTokens: Int, completionTokens: Int) {
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
    }

    /// Reads `usage` from a chat completion or chunk, if present.
    public init?(completion: JSONValue) {
        guard let usage = completion["usage"], case .object = usage else { return nil }
        // Upstreams are not trusted to send sane numbers: keep counts in 0...1e9.
        self.promptTokens = Int(min(max(usage["prompt_tokens"]?.intValue ?? 0, 0), 1_000_000_000))
        self.completionTokens = Int(min(max(usage["completion_tokens"]?.intValue ?? 0, 0), 1_000_000_000))
    }
}

extension JSONValue {
    /// Whether this chunk is the usage-only chunk of a stream (`choices` empty, `usage` set).
    public var isUsageOnlyChunk: Bool {
        guard let usage = self["usage"], !usage.isNull else { return false }
        return self["choices"]?.arrayValue?.isEmpty ?? true
    }
}
