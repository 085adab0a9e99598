import Foundation
import HTTPTypes
public import Hummingbird
public import Logging
public import NIOCore
import NIOFoundationCompat
import SwitchyardCore
import Synchronization

/// A provider simulator speaking OpenAI's chat-completions wire format, with token streaming,
/// tool calls, per-token latency and injectable faults. Used by `switchyard dev`, tests and
/// benchmarks; its wire format is checked against the official `openai` Python SDK.
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

    public static func buildApplication(
        _ configuration: Configuration,
        logger: Logger,
        onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let router = Router(context: MockRequestContext.self)
        router.get("healthz") { _, _ in "ok" }
        router.get("v1/models") { _, _ -> Response in
            json(["object": "list", "data": [["id": "mock", "object": "model", "created": 0, "owned_by": "switchyard-mock"]]])
        }
        router.post("v1/chat/completions") { request, context -> Response in
            try await chatCompletions(request, context: context, defaultLatencyMs: configuration.tokenLatencyMs)
        }
        return Application(
            router: router,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "switchyard-mock"),
            onServerRunning: onServerRunning,
            logger: logger
        )
    }

    static func chatCompletions(_ request: Request, context: MockRequestContext, defaultLatencyMs: Int) async throws -> Response {
        var request = request
        let buffer = try await request.collectBody(upTo: 16 << 20)
        guard let body = try? JSONValue(parsing: buffer.readableBytesView), case .object = body,
            let model = body["model"]?.stringValue
        else {
            return error(400, type: "invalid_request_error", code: "invalid_json", message: "mock: body must be a JSON object with a model")
        }
        let behaviour = MockBehaviour(
            model: model,
            faultHeader: request.headers[HTTPField.Name("x-mock-fault")!],
            latencyHeader: request.headers[HTTPField.Name("x-mock-token-latency-ms")!],
            defaultLatencyMs: defaultLatencyMs
        )
        let stream = body["stream"]?.boolValue ?? false
        switch behaviour.fault {
        case .status500: return error(500, type: "server_error", code: nil, message: "mock: injected internal error")
        case .status429:
            var response = error(429, type: "rate_limit_error", code: "rate_limit_exceeded", message: "mock: injected rate limit")
            response.headers[HTTPField.Name("retry-after")!] = "1"
            return response
        case .status401:
            return error(
                401,
                type: "invalid_request_error",
                code: "invalid_api_key",
                message: "mock: Incorrect API key provided: \(request.headers[.authorization] ?? "<none>")"
            )
        case .status400: return error(400, type: "invalid_request_error", code: "mock_bad_request", message: "mock: injected bad request")
        case .hang:
            // Never answer; give up when the caller goes away (or after two minutes).
            let callerGone = CallerGone()
            let deadline = ContinuousClock.now + .seconds(120)
            try await request.body.consumeWithInboundCloseHandler { _ in
                while !callerGone.value.withLock({ $0 }), ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(20))
                }
            } onInboundClosed: {
                callerGone.value.withLock { $0 = true }
            }
            return error(504, type: "server_error", code: nil, message: "mock: hung request released")
        case .reset:
            try await context.channel.close()
            throw CancellationError()
        case .cut, .none:
            break
        }

        var completion = MockCompletion(request: body)
        if MockCompletion.text(of: body["messages"]?.arrayValue?.last ?? .null) == "__echo_auth__" {
            completion.tokens = [request.headers[.authorization] ?? "<none>"]
        }
        let id = "chatcmpl-mock" + String(MockCompletion.stableHash(completion.text + model), radix: 36)
        let created = Int64(Date().timeIntervalSince1970)
        let latency = Duration.milliseconds(behaviour.tokenLatencyMs)
        if stream {
            let includeUsage = body["stream_options"]?["include_usage"]?.boolValue ?? false
            let chunks = streamChunks(completion, id: id, created: created, model: model, includeUsage: includeUsage)
            let cut = behaviour.fault == .cut
            let tokenCount = completion.tokens.count
            let channel = context.channel
            return Response(
                status: .ok,
                headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
                body: ResponseBody { writer in
                    for (index, chunk) in chunks.enumerated() {
                        if cut, index == 2 {
                            // Let the chunks already written reach the wire, then drop the connection.
                            try await Task.sleep(for: .milliseconds(50))
                            try await channel.close()
                            return
                        }
                        if index > 0, index <= tokenCount, latency > .zero { try await Task.sleep(for: latency) }
                        try await writer.write(ByteBuffer(string: "data: " + encode(chunk) + "\n\n"))
                    }
                    try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
                    try await writer.finish(nil)
                }
            )
        }
        if latency > .zero { try await Task.sleep(for: latency * completion.tokens.count) }
        let text = encode(fullResponse(completion, id: id, created: created, model: model))
        if behaviour.fault == .cut {
            let channel = context.channel
            let half = String(text.prefix(text.count / 2))
            return Response(
                status: .ok,
                headers: [.contentType: "application/json", .contentLength: String(text.utf8.count)],
                body: ResponseBody { writer in
                    try await writer.write(ByteBuffer(string: half))
                    try await channel.close()
                }
            )
        }
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
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
