import Foundation
import HTTPTypes
public import Hummingbird
public import Logging
public import NIOCore
import NIOFoundationCompat
import SwitchyardCore
import Synchronization

/// A provider simulator speaking OpenAI's chat-completions and embeddings wire formats,
/// Anthropic's Messages API and Gemini's `generateContent` / embeddings, with token streaming,
/// tool calls, per-token latency and injectable faults. Used by `switchyard dev`, tests and
/// benchmarks; its OpenAI wire format is checked against the official `openai` Python SDK.
///
/// Routes: `POST /v1/chat/completions`, `POST /v1/embeddings`, `GET /v1/models`,
/// `POST /v1/messages` (Anthropic), `POST /v1beta/models/{model}:{method}` and the same under
/// `/v1/models/` (Gemini: `generateContent`, `streamGenerateContent`, `embedContent`,
/// `batchEmbedContents`), `GET /healthz`, and the request counters `GET /mock/stats`,
/// `POST /mock/stats/reset` (see ``MockStats``).
public enum MockProvider {
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        public var tokenLatencyMs: Int

        public init(host: String = "127.0.0.1", port: Int = 7709, tokenLatencyMs: Int = 0) {
            self.host = host
            self.port = port
            self.tokenLatencyMs = tokenLatencyMs
        }
    }

    /// The mock provider's application. Pass `stats` to read the request counters in-process;
    /// they are also served at `GET /mock/stats`.
    public static func buildApplication(
        _ configuration: Configuration,
        stats: MockStats = MockStats(),
        logger: Logger,
        onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let router = Router(context: MockRequestContext.self)
        let latencyMs = configuration.tokenLatencyMs
        router.get("healthz") { _, _ in "ok" }
        router.get("v1/models") { _, _ -> Response in
            json(["object": "list", "data": [["id": "mock", "object": "model", "created": 0, "owned_by": "switchyard-mock"]]])
        }
        router.post("v1/chat/completions") { request, context -> Response in
            try await chatCompletions(request, context: context, defaultLatencyMs: latencyMs, stats: stats)
        }
        router.post("v1/embeddings") { request, context -> Response in
            try await MockEmbeddings.openAI(request, context: context, defaultLatencyMs: latencyMs, stats: stats)
        }
        router.post("v1/messages") { request, context -> Response in
            try await MockAnthropic.messages(request, context: context, defaultLatencyMs: latencyMs, stats: stats)
        }
        // Gemini puts model and method in one segment, `{model}:{method}`; `/v1beta` is the usual base.
        router.post("v1beta/models/{target}") { request, context -> Response in
            try await MockGemini.dispatch(request, context: context, defaultLatencyMs: latencyMs, stats: stats)
        }
        router.post("v1/models/{target}") { request, context -> Response in
            try await MockGemini.dispatch(request, context: context, defaultLatencyMs: latencyMs, stats: stats)
        }
        router.get("mock/stats") { _, _ -> Response in
            json(stats.json())
        }
        router.post("mock/stats/reset") { _, _ -> HTTPResponse.Status in
            stats.reset()
            return .noContent
        }
        return Application(
            router: router,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "switchyard-mock"),
            onServerRunning: onServerRunning,
            logger: logger
        )
    }

    /// `POST /v1/chat/completions`.
    static func chatCompletions(
        _ request: Request,
        context: MockRequestContext,
        defaultLatencyMs: Int,
        stats: MockStats
    ) async throws -> Response {
        var request = request
        let buffer = try await request.collectBody(upTo: 16 << 20)
        let parsed = try? JSONValue(parsing: buffer.readableBytesView)
        stats.record(.openai, model: parsed?["model"]?.stringValue)
        guard let body = parsed, case .object = body, let model = body["model"]?.stringValue else {
            return MockDialect.openAI.error(.badRequest, message: "mock: body must be a JSON object with a model", code: "invalid_json")
        }
        let behaviour = MockBehaviour(model: model, headers: request.headers, defaultLatencyMs: defaultLatencyMs)
        let authorization = request.headers[.authorization]
        if let response = try await MockDialect.openAI.respond(to: behaviour, body: request.body, context: context, credential: authorization) {
            return response
        }

        var completion = MockCompletion(request: body)
        let messages = body["messages"]?.arrayValue ?? []
        completion.apply(
            behaviour.reply,
            body: body,
            lastText: MockCompletion.text(of: messages.last ?? .null),
            firstUserText: messages.first { $0["role"] == "user" }.map(MockCompletion.text(of:)) ?? "",
            repairing: messages.contains { $0["role"] == "assistant" }
        )
        if MockCompletion.text(of: body["messages"]?.arrayValue?.last ?? .null) == "__echo_auth__" {
            completion.tokens = [authorization ?? "<none>"]
        }
        let id = "chatcmpl-mock" + String(MockCompletion.stableHash(completion.text + model), radix: 36)
        let created = Int64(Date().timeIntervalSince1970)
        let latency = Duration.milliseconds(behaviour.tokenLatencyMs)
        let cut = behaviour.fault == .cut
        if body["stream"]?.boolValue ?? false {
            let includeUsage = body["stream_options"]?["include_usage"]?.boolValue ?? false
            let chunks = streamChunks(completion, id: id, created: created, model: model, includeUsage: includeUsage)
            // Chunk 0 carries the role; chunks 1...n one token each. The role chunk waits one
            // token's latency too: it is the time to first token a router measures.
            var frames = chunks.map { "data: " + encode($0) + "\n\n" } + ["data: [DONE]\n\n"]
            if behaviour.fault == .streamError {
                frames = [frames[0], "data: " + encode(["error": ["message": "mock: injected stream error", "type": "server_error"]]) + "\n\n"]
            }
            let stream = MockStream(
                frames: frames,
                tokenFrames: 0..<min(frames.count, completion.tokens.count + 1),
                cutBefore: cut ? 2 : nil
            )
            return stream.response(latency: latency, channel: context.channel)
        }
        if latency > .zero { try await Task.sleep(for: latency * completion.tokens.count) }
        return jsonBody(fullResponse(completion, id: id, created: created, model: model), cut: cut, channel: context.channel)
    }

    static func usage(_ completion: MockCompletion) -> JSONValue {
        [
            "prompt_tokens": .int(Int64(completion.promptTokens)), "completion_tokens": .int(Int64(completion.completionTokens)),
            "total_tokens": .int(Int64(completion.promptTokens + completion.completionTokens)),
        ]
    }

    static func fullResponse(_ completion: MockCompletion, id: String, created: Int64, model: String) -> JSONValue {
        var message: [String: JSONValue] = ["role": "assistant", "refusal": nil]
        if let call = completion.toolCall {
            message["content"] = .null
            message["tool_calls"] = [
                ["id": .string(call.id), "type": "function", "function": ["name": .string(call.name), "arguments": .string(call.arguments)]]
            ]
        } else {
            message["content"] = .string(completion.text)
        }
        return [
            "id": .string(id), "object": "chat.completion", "created": .int(created), "model": .string(model),
            "choices": [
                [
                    "index": 0, "message": .object(message), "logprobs": nil,
                    "finish_reason": .string(completion.toolCall == nil ? "stop" : "tool_calls"),
                ]
            ],
            "usage": usage(completion), "system_fingerprint": nil,
        ]
    }

    static func streamChunks(_ completion: MockCompletion, id: String, created: Int64, model: String, includeUsage: Bool) -> [JSONValue] {
        func chunk(_ delta: JSONValue, finish: String?) -> JSONValue {
            var object: [String: JSONValue] = [
                "id": .string(id), "object": "chat.completion.chunk", "created": .int(created), "model": .string(model),
                "system_fingerprint": nil,
                "choices": [["index": 0, "delta": delta, "logprobs": nil, "finish_reason": finish.map(JSONValue.string) ?? .null]],
            ]
            if includeUsage { object["usage"] = .null }
            return .object(object)
        }
        var chunks: [JSONValue] = []
        if let call = completion.toolCall {
            chunks.append(
                chunk(
                    [
                        "role": "assistant", "content": nil,
                        "tool_calls": [
                            ["index": 0, "id": .string(call.id), "type": "function", "function": ["name": .string(call.name), "arguments": ""]]
                        ],
                    ],
                    finish: nil
                )
            )
            for piece in completion.tokens {
                chunks.append(chunk(["tool_calls": [["index": 0, "function": ["arguments": .string(piece)]]]], finish: nil))
            }
            chunks.append(chunk([:], finish: "tool_calls"))
        } else {
            chunks.append(chunk(["role": "assistant", "content": ""], finish: nil))
            for token in completion.tokens { chunks.append(chunk(["content": .string(token)], finish: nil)) }
            chunks.append(chunk([:], finish: "stop"))
        }
        if includeUsage {
            chunks.append([
                "id": .string(id), "object": "chat.completion.chunk", "created": .int(created), "model": .string(model),
                "system_fingerprint": nil, "choices": [], "usage": usage(completion),
            ])
        }
        return chunks
    }

    static func encode(_ value: JSONValue) -> String {
        String(decoding: value.serialized(sortedKeys: true), as: UTF8.self)
    }

    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: encode(value))))
    }

    static func error(_ status: Int, type: String, code: String?, message: String) -> Response {
        json(
            ["error": ["message": .string(message), "type": .string(type), "param": nil, "code": code.map(JSONValue.string) ?? .null]],
            status: .init(code: status)
        )
    }
}

final class CallerGone: Sendable {
    let value = Mutex(false)
}

/// A request context that keeps the connection's channel, so faults can drop it.
struct MockRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
    }
}
