public import SwitchyardCore

extension GeminiOutbound {
    /// `batchEmbedContents` takes at most this many requests.
    static let maximumEmbeddingInputs = 100

    /// The URL path for embeddings: `/models/{model}:batchEmbedContents`.
    public static func embeddingsPath(upstreamModel: String) -> String {
        "/models/\(Self.bareModelName(upstreamModel)):batchEmbedContents"
    }

    /// OpenAI embeddings request `{model, input: string | [string], dimensions?}` → `batchEmbedContents`
    /// body `{requests: [{model: "models/{upstreamModel}", content: {parts: [{text}]}, outputDimensionality?}]}`.
    ///
    /// Token-array inputs have no Gemini form and throw; `encoding_format` and `user` are dropped
    /// (the response always carries float arrays).
    public static func embeddingsRequest(_ body: [String: JSONValue], upstreamModel: String) throws(TranslationError) -> JSONValue {
        let inputs = try Self.embeddingInputs(body["input"])
        var dimensions: Int64?
        if let value = body["dimensions"], !value.isNull {
            guard let number = value.intValue, number >= 1 else {
                throw TranslationError("'dimensions' must be a positive integer.", param: "dimensions")
            }
            dimensions = number
        }
        let model = JSONValue.string("models/" + Self.bareModelName(upstreamModel))
        var requests: [JSONValue] = []
        requests.reserveCapacity(inputs.count)
        for input in inputs {
            let part: JSONValue = .object(["text": .string(input)])
            var request: [String: JSONValue] = [
                "model": model,
                "content": .object(["parts": .array([part])]),
            ]
            if let dimensions {
                request["outputDimensionality"] = .int(dimensions)
            }
            requests.append(.object(request))
        }
        return .object(["requests": .array(requests)])
    }

    /// `batchEmbedContents` response `{embeddings: [{values: [...]}]}` → OpenAI embeddings list.
    ///
    /// Gemini reports no token counts here, so prompt tokens are estimated from the inputs' UTF-8
    /// byte count (`inputBytes`) as one token per four bytes, rounded up.
    public static func embeddingsResponse(_ json: JSONValue, model: String, inputBytes: Int) throws(TranslationError) -> JSONValue {
        guard let embeddings = json["embeddings"]?.arrayValue else {
            throw TranslationError("The Gemini embeddings response has no 'embeddings' list.")
        }
        var data: [JSONValue] = []
        data.reserveCapacity(embeddings.count)
        for (index, embedding) in embeddings.enumerated() {
            guard let values = embedding["values"]?.arrayValue else {
                throw TranslationError("Gemini embedding \(index) has no 'values' list.")
            }
            for value in values {
                switch value {
                case .int, .double: continue
                default: throw TranslationError("Gemini embedding \(index) holds a value that is not a number.")
                }
            }
            data.append(
                .object([
                    "object": .string("embedding"),
                    "index": .int(Int64(index)),
                    "embedding": .array(values),
                ])
            )
        }
        let bytes = max(inputBytes, 0)
        let tokens = JSONValue.int(Int64(bytes / 4 + (bytes % 4 == 0 ? 0 : 1)))
        return .object([
            "object": .string("list"),
            "data": .array(data),
            "model": .string(model),
            "usage": .object(["prompt_tokens": tokens, "total_tokens": tokens]),
        ])
    }

    /// `input` as a list of strings; token arrays (`[1, 2]`, `[[1, 2]]`) are refused.
    static func embeddingInputs(_ input: JSONValue?) throws(TranslationError) -> [String] {
        switch input {
        case nil, .null?:
            throw TranslationError("Missing required parameter: 'input'.", param: "input")
        case .string(let text)?:
            guard !text.isEmpty else {
                throw TranslationError("'input' cannot be an empty string.", param: "input")
            }
            return [text]
        case .array(let list)?:
            guard !list.isEmpty else {
                throw TranslationError("'input' cannot be an empty array.", param: "input")
            }
            guard list.count <= Self.maximumEmbeddingInputs else {
                throw TranslationError(
                    "Gemini targets embed at most \(Self.maximumEmbeddingInputs) inputs per request.",
                    param: "input"
                )
            }
            var texts: [String] = []
            texts.reserveCapacity(list.count)
            for (index, element) in list.enumerated() {
                switch element {
                case .string(let text):
                    guard !text.isEmpty else {
                        throw TranslationError("'input' cannot contain empty strings.", param: "input[\(index)]")
                    }
                    texts.append(text)
                case .int, .array:
                    throw TranslationError("Token-array inputs cannot be sent to Gemini targets; send text.", param: "input")
                default:
                    throw TranslationError("'input' must be a string or an array of strings.", param: "input[\(index)]")
                }
            }
            return texts
        default:
            throw TranslationError("'input' must be a string or an array of strings.", param: "input")
        }
    }
}
