import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SwitchyardCore

/// Embeddings in OpenAI's format (`POST /v1/embeddings`) and Gemini's (`:embedContent`,
/// `:batchEmbedContents`). A text gets the same vector in both formats: components derived from
/// a hash of the text, scaled to about unit length and rounded to multiples of 1/1024 (so the
/// float and base64 encodings carry exactly the same numbers). 8 dimensions unless `dimensions` /
/// `outputDimensionality` asks for 1 to 64. The same faults and latency directives apply
/// (latency: one token's worth per request); Gemini's embeddings need its API key.
enum MockEmbeddings {
    static let defaultDimensions = 8
    static let maximumDimensions = 64

    /// The mock's embedding of `text`.
    static func vector(for text: String, dimensions: Int) -> [Double] {
        let raw = (0..<dimensions).map { index -> Double in
            // FNV-1a, then the splitmix64 finaliser so that near-identical keys spread out.
            var bits = MockCompletion.stableHash("\(index):\(text)")
            bits = (bits ^ (bits >> 30)) &* 0xbf58_476d_1ce4_e5b9
            bits = (bits ^ (bits >> 27)) &* 0x94d0_49bb_1331_11eb
            bits ^= bits >> 31
            return Double(bits >> 11) / Double(UInt64(1) << 53) * 2 - 1
        }
        let norm = raw.reduce(0) { $0 + $1 * $1 }.squareRoot()
        guard norm > 0 else { return raw }
        return raw.map { ($0 / norm * 1024).rounded() / 1024 }
    }

    /// `dimensions` / `outputDimensionality`: the default when absent, `nil` when invalid.
    static func dimensions(_ value: JSONValue?) -> Int? {
        guard let value, !value.isNull else { return Self.defaultDimensions }
        guard let count = value.intValue, count >= 1, count <= Int64(Self.maximumDimensions) else { return nil }
        return Int(count)
    }

    /// The words of all texts, at least 1, as the token count.
    static func promptTokens(_ texts: [String]) -> Int {
        max(1, texts.reduce(0) { $0 + MockCompletion.words(in: $1).count })
    }

    // MARK: OpenAI

    /// `POST /v1/embeddings`: `input` a string, an array of strings, an array of token ids or an
    /// array of token-id arrays (token ids embed as their decimal text joined by spaces);
    /// `encoding_format` `float` (default) or `base64` (little-endian float32, as the `openai`
    /// SDKs ask for by default).
    static func openAI(_ request: Request, context: MockRequestContext, defaultLatencyMs: Int, stats: MockStats) async throws -> Response {
        var request = request
        let buffer = try await request.collectBody(upTo: 16 << 20)
        let parsed = try? JSONValue(parsing: buffer.readableBytesView)
        stats.record(.embeddings, model: parsed?["model"]?.stringValue)
        let dialect = MockDialect.openAI
        guard let body = parsed, case .object = body, let model = body["model"]?.stringValue else {
            return dialect.error(.badRequest, message: "mock: body must be a JSON object with a model", code: "invalid_json")
        }
        guard let texts = Self.openAIInputs(body["input"]) else {
            return dialect.error(
                .badRequest,
                message: "mock: input must be a string, an array of strings, or an array of token arrays",
                code: "invalid_input"
            )
        }
        guard let dimensions = Self.dimensions(body["dimensions"]) else {
            return dialect.error(
                .badRequest,
                message: "mock: dimensions must be an integer from 1 to \(Self.maximumDimensions)",
                code: "invalid_dimensions"
            )
        }
        let base64: Bool
        switch body["encoding_format"]?.stringValue ?? "float" {
        case "float": base64 = false
        case "base64": base64 = true
        default: return dialect.error(.badRequest, message: "mock: encoding_format must be float or base64", code: "invalid_encoding_format")
        }

        let behaviour = MockBehaviour(model: model, headers: request.headers, defaultLatencyMs: defaultLatencyMs)
        let authorization = request.headers[.authorization]
        if let response = try await dialect.respond(to: behaviour, body: request.body, context: context, credential: authorization) {
            return response
        }
        let latency = Duration.milliseconds(behaviour.tokenLatencyMs)
        if latency > .zero { try await Task.sleep(for: latency) }

        var data: [JSONValue] = []
        for (index, text) in texts.enumerated() {
            let vector = Self.vector(for: text, dimensions: dimensions)
            let embedding: JSONValue = base64 ? .string(Self.base64(vector)) : .array(vector.map(JSONValue.double))
            data.append(["object": "embedding", "index": .int(Int64(index)), "embedding": embedding])
        }
        let tokens = JSONValue.int(Int64(Self.promptTokens(texts)))
        let answer: JSONValue = [
            "object": "list", "data": .array(data), "model": .string(model), "usage": ["prompt_tokens": tokens, "total_tokens": tokens],
        ]
        return MockProvider.jsonBody(answer, cut: behaviour.fault == .cut, channel: context.channel)
    }

    /// The texts of an OpenAI `input`, or `nil` if it is not one of the accepted shapes.
    static func openAIInputs(_ input: JSONValue?) -> [String]? {
        func tokenText(_ tokens: [JSONValue]) -> String? {
            let ids = tokens.compactMap(\.intValue)
            guard !ids.isEmpty, ids.count == tokens.count else { return nil }
            return ids.map { String($0) }.joined(separator: " ")
        }
        switch input {
        case .string(let text):
            return [text]
        case .array(let items) where !items.isEmpty:
            let strings = items.compactMap(\.stringValue)
            if strings.count == items.count { return strings }
            if let text = tokenText(items) { return [text] }
            let lists = items.compactMap { $0.arrayValue.flatMap(tokenText) }
            if lists.count == items.count { return lists }
            return nil
        default:
            return nil
        }
    }

    /// Little-endian float32 values, base64-encoded (OpenAI's `encoding_format: base64`).
    static func base64(_ vector: [Double]) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(vector.count * 4)
        for value in vector {
            let bits = Float(value).bitPattern
            for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8(truncatingIfNeeded: bits >> UInt32(shift))) }
        }
        return Data(bytes).base64EncodedString()
    }

    // MARK: Gemini

    /// `:embedContent` (`{"content":{"parts":[{"text"}]}, "outputDimensionality"?}` →
    /// `{"embedding":{"values":[…]}}`) and `:batchEmbedContents` (`{"requests":[…]}` →
    /// `{"embeddings":[{"values":[…]}, …]}`). A content's text is its text parts joined by spaces.
    static func gemini(
        _ request: Request,
        context: MockRequestContext,
        model: String,
        batch: Bool,
        defaultLatencyMs: Int,
        stats: MockStats
    ) async throws -> Response {
        var request = request
        let buffer = try await request.collectBody(upTo: 16 << 20)
        stats.record(.embeddings, model: model)
        let dialect = MockDialect.gemini
        guard let apiKey = MockGemini.apiKey(request) else {
            return dialect.error(.unauthenticated, message: "mock: API key missing; pass it in x-goog-api-key")
        }
        guard let body = try? JSONValue(parsing: buffer.readableBytesView), case .object = body else {
            return dialect.error(.badRequest, message: "mock: body must be a JSON object")
        }
        let requests: [JSONValue]
        if batch {
            guard let list = body["requests"]?.arrayValue, !list.isEmpty else {
                return dialect.error(.badRequest, message: "* BatchEmbedContentsRequest.requests: requests is not specified")
            }
            requests = list
        } else {
            requests = [body]
        }
        var items: [(text: String, dimensions: Int)] = []
        for (index, item) in requests.enumerated() {
            let field = batch ? "requests[\(index)]." : ""
            guard let content = item["content"], let parts = content["parts"]?.arrayValue, !parts.isEmpty else {
                return dialect.error(.badRequest, message: "* EmbedContentRequest.\(field)content: content is not specified")
            }
            guard let dimensions = Self.dimensions(item["outputDimensionality"] ?? item["output_dimensionality"]) else {
                return dialect.error(
                    .badRequest,
                    message: "* EmbedContentRequest.\(field)outputDimensionality: must be from 1 to \(Self.maximumDimensions) in the mock"
                )
            }
            items.append((text: MockGemini.text(of: content), dimensions: dimensions))
        }

        let behaviour = MockBehaviour(model: model, headers: request.headers, defaultLatencyMs: defaultLatencyMs)
        if let response = try await dialect.respond(to: behaviour, body: request.body, context: context, credential: apiKey) {
            return response
        }
        let latency = Duration.milliseconds(behaviour.tokenLatencyMs)
        if latency > .zero { try await Task.sleep(for: latency) }

        let embeddings = items.map { item -> JSONValue in
            ["values": .array(Self.vector(for: item.text, dimensions: item.dimensions).map(JSONValue.double))]
        }
        let answer: JSONValue = batch ? ["embeddings": .array(embeddings)] : ["embedding": embeddings[0]]
        return MockProvider.jsonBody(answer, cut: behaviour.fault == .cut, channel: context.channel)
    }
}
