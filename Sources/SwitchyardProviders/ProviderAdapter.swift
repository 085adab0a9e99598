public import AsyncHTTPClient
import Foundation
public import Logging
public import NIOCore
import NIOFoundationCompat
public import NIOHTTP1
public import SwitchyardCore

/// Speaks each provider's wire format. The router's own format is OpenAI chat completions:
/// requests are built from it and answers translated back to it (`canonical`), so the node can
/// serve any client format from any provider. OpenAI-format providers pass through untouched.
public struct ProviderAdapter: Sendable {
    public static let anthropicVersion = "2023-06-01"

    public let client: HTTPClient
    /// Takes complete answers from plain `http://` upstreams when set (see ``PlainHTTP1Client``).
    public let plain: PlainHTTP1Client?

    public init(client: HTTPClient, plain: PlainHTTP1Client? = nil) {
        self.client = client
        self.plain = plain
    }

    /// The upstream request for one chat attempt. `body` is the canonical request with the
    /// upstream model and the route's parameter overrides already applied.
    public func chatRequest(
        provider: ProviderConfig,
        credential: ProviderCredential?,
        upstreamModel: String,
        body: [String: JSONValue],
        stream: Bool
    ) throws(TranslationError) -> UpstreamRequest {
        switch provider.kind {
        case .openai, .openaiCompatible:
            return Self.request(provider, path: "/chat/completions", credential: credential, body: .object(body), stream: stream)
        case .anthropic:
            let translated = try AnthropicOutbound.request(chat: body, upstreamModel: upstreamModel, stream: stream)
            return Self.request(provider, path: "/messages", credential: credential, body: translated, stream: stream)
        case .gemini:
            let translated = try GeminiOutbound.request(chat: body)
            return Self.request(
                provider,
                path: GeminiOutbound.path(upstreamModel: upstreamModel, stream: stream),
                credential: credential,
                body: translated,
                stream: stream
            )
        }
    }

    /// The upstream request for one embeddings attempt (`body` has the upstream model set).
    public func embeddingsRequest(
        provider: ProviderConfig,
        credential: ProviderCredential?,
        upstreamModel: String,
        body: [String: JSONValue]
    ) throws(TranslationError) -> UpstreamRequest {
        switch provider.kind {
        case .openai, .openaiCompatible:
            return Self.request(provider, path: "/embeddings", credential: credential, body: .object(body), stream: false)
        case .gemini:
            let translated = try GeminiOutbound.embeddingsRequest(body, upstreamModel: upstreamModel)
            return Self.request(
                provider,
                path: GeminiOutbound.embeddingsPath(upstreamModel: upstreamModel),
                credential: credential,
                body: translated,
                stream: false
            )
        case .anthropic:
            throw TranslationError("Anthropic offers no embeddings; route embeddings to an OpenAI-compatible or Gemini model", param: "model")
        }
    }

    /// A chat request for an OpenAI-format provider whose body is already encoded (the client's
    /// own bytes with the model rewritten, see ``JSONSplice``).
    public func chatRequest(provider: ProviderConfig, credential: ProviderCredential?, encodedBody: ByteBuffer) -> UpstreamRequest {
        Self.request(provider, path: "/chat/completions", credential: credential, encodedBody: encodedBody, stream: false)
    }

    static func request(
        _ provider: ProviderConfig,
        path: String,
        credential: ProviderCredential?,
        body: JSONValue,
        stream: Bool
    ) -> UpstreamRequest {
        Self.request(provider, path: path, credential: credential, encodedBody: ByteBuffer(bytes: body.serialized()), stream: stream)
    }

    static func request(
        _ provider: ProviderConfig,
        path: String,
        credential: ProviderCredential?,
        encodedBody: ByteBuffer,
        stream: Bool
    ) -> UpstreamRequest {
        var base = provider.baseURL
        while base.hasSuffix("/") { base.removeLast() }
        var request = UpstreamRequest(url: base + path, body: encodedBody)
        request.headers.add(name: "content-type", value: "application/json")
        request.headers.add(name: "accept", value: stream ? "text/event-stream" : "application/json")
        if let key = credential?.key, !key.isEmpty {
            switch provider.kind {
            case .openai, .openaiCompatible: request.headers.add(name: "authorization", value: "Bearer \(key)")
            case .anthropic: request.headers.add(name: "x-api-key", value: key)
            case .gemini: request.headers.add(name: "x-goog-api-key", value: key)
            }
        }
        if provider.kind == .anthropic { request.headers.add(name: "anthropic-version", value: Self.anthropicVersion) }
        return request
    }

    /// Sends `request` and waits for the response head until `deadline`; with `collectUpTo`, the
    /// caller wants the whole answer (at most that many bytes) by then, and a plain `http://`
    /// upstream is called through ``plain``.
    public func send(
        _ request: UpstreamRequest,
        collectUpTo limit: Int? = nil,
        deadline: NIODeadline,
        logger: Logger
    ) async throws(AttemptFailure) -> HTTPClientResponse {
        do {
            if let limit, let plain = self.plain, let (host, port, target) = PlainHTTP1Client.split(request.url) {
                return try await plain.post(
                    host: host,
                    port: port,
                    target: target,
                    headers: request.headers,
                    body: request.body,
                    limit: limit,
                    deadline: deadline
                )
            }
            var client = HTTPClientRequest(url: request.url)
            client.method = .POST
            client.headers = request.headers
            client.body = .bytes(request.body)
            return try await self.client.execute(client, deadline: deadline, logger: logger)
        } catch {
            throw Self.classify(error)
        }
    }

    /// A provider's complete chat answer in the canonical (OpenAI) form.
    public static func canonicalCompletion(
        kind: ProviderKind,
        _ json: JSONValue,
        model: String,
        id: String
    ) throws(TranslationError)
        -> JSONValue
    {
        let created = Int64(Date().timeIntervalSince1970)
        switch kind {
        case .openai, .openaiCompatible: return json
        case .anthropic: return try AnthropicOutbound.response(json, model: model, created: created)
        case .gemini: return try GeminiOutbound.response(json, model: model, id: id, created: created)
        }
    }

    /// A provider's complete embeddings answer in the OpenAI form.
    public static func canonicalEmbeddings(
        kind: ProviderKind,
        _ json: JSONValue,
        model: String,
        inputBytes: Int
    ) throws(TranslationError)
        -> JSONValue
    {
        switch kind {
        case .gemini: return try GeminiOutbound.embeddingsResponse(json, model: model, inputBytes: inputBytes)
        default: return json
        }
    }

    /// The human-readable message of a provider's error body, whatever its format.
    public static func errorMessage(_ json: JSONValue) -> String? {
        // OpenAI and Gemini: {"error": {"message"}}; Anthropic: {"type": "error", "error": {"message"}}.
        json["error"]?["message"]?.stringValue ?? GeminiOutbound.errorMessage(json)
    }

    /// Maps a transport error to an attempt failure.
    public static func classify(_ error: any Error) -> AttemptFailure {
        if let failure = error as? AttemptFailure { return failure }
        if error is CancellationError { return .timeout("cancelled") }
        if let clientError = error as? HTTPClientError {
            switch clientError {
            case .deadlineExceeded, .readTimeout, .connectTimeout, .writeTimeout:
                return .timeout(String(describing: clientError))
            case .remoteConnectionClosed, .cancelled:
                return .interrupted(String(describing: clientError))
            default:
                return .connect(String(describing: clientError))
            }
        }
        if let closed = error as? PlainHTTP1Client.ConnectionClosed { return .interrupted(closed.description) }
        if case ChannelError.connectTimeout = error { return .timeout("connect timeout") }
        return .connect(String(describing: error))
    }
}

/// One POST to a provider, in whatever client carries it.
public struct UpstreamRequest: Sendable {
    public var url: String
    public let method: HTTPMethod = .POST
    public var headers: HTTPHeaders = [:]
    public var body: ByteBuffer

    public init(url: String, headers: HTTPHeaders = [:], body: ByteBuffer) {
        self.url = url
        self.headers = headers
        self.body = body
    }
}

/// Turns a provider's streamed events into canonical (OpenAI) chunks.
public struct UpstreamStreamDecoder: Sendable {
    enum State: Sendable {
        case openai(sawDone: Bool)
        case anthropic(AnthropicOutbound.StreamDecoder)
        case gemini(GeminiOutbound.StreamDecoder)
    }

    var state: State

    public init(kind: ProviderKind, model: String, id: String) {
        let created = Int64(Date().timeIntervalSince1970)
        switch kind {
        case .openai, .openaiCompatible: self.state = .openai(sawDone: false)
        case .anthropic: self.state = .anthropic(.init(model: model, created: created))
        case .gemini: self.state = .gemini(.init(model: model, id: id, created: created))
        }
    }

    /// The chunks one upstream event carries. Throws when the event is an upstream error or does
    /// not decode.
    public mutating func decode(_ event: SSEEvent) throws(TranslationError) -> [JSONValue] {
        switch self.state {
        case .openai:
            if event.isDone {
                self.state = .openai(sawDone: true)
                return []
            }
            guard !event.data.isEmpty else { return [] }
            guard let json = try? JSONValue(parsing: event.data.utf8), case .object = json else {
                throw TranslationError("the provider sent an event that is not a JSON object")
            }
            if let message = json["error"]?["message"]?.stringValue { throw TranslationError(message) }
            return [json]
        case .anthropic(var decoder):
            defer { self.state = .anthropic(decoder) }
            return try decoder.decode(event)
        case .gemini(var decoder):
            defer { self.state = .gemini(decoder) }
            return try decoder.decode(event)
        }
    }

    /// Chunks held back until the upstream stream ended (Gemini's usage).
    public mutating func finish() -> [JSONValue] {
        guard case .gemini(var decoder) = self.state else { return [] }
        defer { self.state = .gemini(decoder) }
        return decoder.finish()
    }

    /// Whether the upstream said its answer is complete (`[DONE]`, `message_stop`, a finish reason).
    public var isComplete: Bool {
        switch self.state {
        case .openai(let sawDone): sawDone
        case .anthropic(let decoder): decoder.isFinished
        case .gemini(let decoder): decoder.sawFinishReason
        }
    }
}
