import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import SwitchyardCore
import SwitchyardProviders
import Testing

/// The upstream requests the adapter builds for each provider kind: URL, auth header, body.
struct ProviderAdapterTests {
    static let chat: [String: JSONValue] = [
        "model": "up-model", "messages": [["role": "system", "content": "be brief"], ["role": "user", "content": "hi"]],
        "max_tokens": 50,
    ]

    static func provider(_ kind: ProviderKind, base: String) -> ProviderConfig {
        ProviderConfig(name: "p", kind: kind, baseURL: base, credentials: [ProviderCredential(name: "default", key: "secret-key")])
    }

    static func body(_ request: UpstreamRequest) async throws -> JSONValue {
        try JSONValue(parsing: request.body.readableBytesView)
    }

    @Test(arguments: [
        (
            ProviderKind.openai, "https://api.openai.com/v1/", false, "https://api.openai.com/v1/chat/completions", "authorization",
            "Bearer secret-key"
        ),
        (.openaiCompatible, "http://vllm:8000/v1", true, "http://vllm:8000/v1/chat/completions", "authorization", "Bearer secret-key"),
        (.anthropic, "https://api.anthropic.com/v1", false, "https://api.anthropic.com/v1/messages", "x-api-key", "secret-key"),
        (
            .gemini, "https://generativelanguage.googleapis.com/v1beta", true,
            "https://generativelanguage.googleapis.com/v1beta/models/up-model:streamGenerateContent?alt=sse", "x-goog-api-key", "secret-key"
        ),
    ])
    func chatRequestsSpeakTheProvidersFormat(
        kind: ProviderKind,
        base: String,
        stream: Bool,
        url: String,
        header: String,
        value: String
    )
        async throws
    {
        let client = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton)
        defer { _ = client.shutdown() }
        let adapter = ProviderAdapter(client: client)
        let provider = Self.provider(kind, base: base)
        let request = try adapter.chatRequest(
            provider: provider,
            credential: provider.credentials.first,
            upstreamModel: "up-model",
            body: Self.chat,
            stream: stream
        )
        #expect(request.url == url)
        #expect(request.method == .POST)
        #expect(request.headers.first(name: header) == value)
        #expect(request.headers.first(name: "accept") == (stream ? "text/event-stream" : "application/json"))
        // Exactly one credential header, the provider's own.
        let auth = ["authorization", "x-api-key", "x-goog-api-key"].filter { request.headers.first(name: $0) != nil }
        #expect(auth == [header])
        let body = try await Self.body(request)
        switch kind {
        case .openai, .openaiCompatible:
            #expect(body == .object(Self.chat))
        case .anthropic:
            #expect(request.headers.first(name: "anthropic-version") == ProviderAdapter.anthropicVersion)
            #expect(body == (try AnthropicOutbound.request(chat: Self.chat, upstreamModel: "up-model", stream: stream)))
            #expect(body["system"] != nil)
        case .gemini:
            #expect(body == (try GeminiOutbound.request(chat: Self.chat)))
        }
    }

    @Test func providersWithoutKeysGetNoAuthHeaderAndAnthropicHasNoEmbeddings() async throws {
        let client = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton)
        defer { _ = client.shutdown() }
        let adapter = ProviderAdapter(client: client)
        let local = ProviderConfig(name: "ollama", kind: .openaiCompatible, baseURL: "http://127.0.0.1:11434/v1", credentials: [])
        let request = try adapter.chatRequest(provider: local, credential: nil, upstreamModel: "llama", body: Self.chat, stream: false)
        #expect(request.headers.first(name: "authorization") == nil)
        let embeddings = try adapter.embeddingsRequest(provider: local, credential: nil, upstreamModel: "e", body: ["model": "e", "input": "x"])
        #expect(embeddings.url == "http://127.0.0.1:11434/v1/embeddings")
        #expect(throws: TranslationError.self) {
            try adapter.embeddingsRequest(
                provider: Self.provider(.anthropic, base: "https://api.anthropic.com/v1"),
                credential: nil,
                upstreamModel: "claude",
                body: ["input": "x"]
            )
        }
    }

    @Test(arguments: [
        (#"{"error": {"message": "openai says no", "type": "invalid_request_error"}}"#, "openai says no"),
        (#"{"type": "error", "error": {"type": "invalid_request_error", "message": "anthropic says no"}}"#, "anthropic says no"),
        (#"{"error": {"code": 400, "message": "gemini says no", "status": "INVALID_ARGUMENT"}}"#, "gemini says no"),
    ])
    func errorMessagesAreReadFromEveryFormat(body: String, message: String) throws {
        #expect(ProviderAdapter.errorMessage(try JSONValue(parsing: body.utf8)) == message)
    }

    @Test func openAIStreamDecoderPassesChunksAndStopsAtDone() throws {
        var decoder = UpstreamStreamDecoder(kind: .openai, model: "m", id: "x")
        var splitter = SSEEventSplitter()
        let events = splitter.append(Array("data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: [DONE]\n\n".utf8))
        #expect(try decoder.decode(events[0]).count == 1)
        #expect(!decoder.isComplete)
        #expect(try decoder.decode(events[1]).isEmpty)
        #expect(decoder.isComplete)
        let error = splitter.append(Array("data: {\"error\":{\"message\":\"overloaded\"}}\n\n".utf8))
        #expect(throws: TranslationError("overloaded")) { try decoder.decode(error[0]) }
    }
}
