import HTTPTypes
import Hummingbird
import NIOCore
import SwitchyardCore
import Synchronization

/// Request headers the mock reads its directives from (see ``MockBehaviour``).
enum MockHeader {
    static let fault = HTTPField.Name("x-mock-fault")!
    static let tokenLatency = HTTPField.Name("x-mock-token-latency-ms")!
    static let retryAfter = HTTPField.Name("x-mock-retry-after")!
}

extension MockBehaviour {
    /// The behaviour asked for by the upstream model name and the `x-mock-*` request headers.
    init(model: String, headers: HTTPFields, defaultLatencyMs: Int) {
        self.init(
            model: model,
            faultHeader: headers[MockHeader.fault],
            latencyHeader: headers[MockHeader.tokenLatency],
            retryAfterHeader: headers[MockHeader.retryAfter],
            defaultLatencyMs: defaultLatencyMs
        )
    }
}

/// A failure the mock answers with, named apart from any one wire format; ``MockDialect``
/// renders it in each format's error envelope.
enum MockProblem: Sendable, Hashable {
    case badRequest
    case unauthenticated
    case permissionDenied
    case notFound
    case rateLimited
    case internalError
    case unavailable
    case timeout
    case overloaded

    var status: Int {
        switch self {
        case .badRequest: 400
        case .unauthenticated: 401
        case .permissionDenied: 403
        case .notFound: 404
        case .rateLimited: 429
        case .internalError: 500
        case .unavailable: 503
        case .timeout: 504
        case .overloaded: 529
        }
    }
}

/// The error conventions of one upstream wire format: OpenAI's
/// `{"error":{"message","type","param","code"}}`, Anthropic's
/// `{"type":"error","error":{"type","message"}}` and Google's
/// `{"error":{"code","message","status"}}`.
enum MockDialect: Sendable, Hashable {
    case openAI
    case anthropic
    case gemini

    static let retryAfterHeader = HTTPField.Name("retry-after")!

    /// An error response in this format's envelope. `code` overrides OpenAI's `error.code` (the
    /// other formats have no such field); `retryAfterSeconds` adds a `retry-after` header (and
    /// Google's `RetryInfo` detail on a `429`).
    func error(_ problem: MockProblem, message: String, code: String? = nil, retryAfterSeconds: Int? = nil) -> Response {
        var response: Response
        switch self {
        case .openAI:
            let (type, defaultCode) = Self.openAIType(problem)
            response = MockProvider.error(problem.status, type: type, code: code ?? defaultCode, message: message)
        case .anthropic:
            response = MockProvider.json(
                ["type": "error", "error": ["type": .string(Self.anthropicType(problem)), "message": .string(message)]],
                status: .init(code: problem.status)
            )
        case .gemini:
            var error: [String: JSONValue] = [
                "code": .int(Int64(problem.status)), "message": .string(message), "status": .string(Self.googleStatus(problem)),
            ]
            if problem == .rateLimited, let retryAfterSeconds {
                error["details"] = [["@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": .string("\(retryAfterSeconds)s")]]
            }
            response = MockProvider.json(["error": .object(error)], status: .init(code: problem.status))
        }
        if let retryAfterSeconds { response.headers[Self.retryAfterHeader] = String(retryAfterSeconds) }
        return response
    }

    /// The answer to an injected fault that ends the request before any content: a status fault,
    /// a hang (released when the caller goes away, or after two minutes, with a `504`) or a reset
    /// (the connection is closed and this throws). `nil` without a fault, and for `cut`, which
    /// each format applies to its own body.
    ///
    /// - Parameters:
    ///   - body: the request's body, already collected (a hang watches it for the caller leaving).
    ///   - credential: the API key the request carried, echoed by `fault-401` so tests can see
    ///     which key a router sent.
    func respond(
        to behaviour: MockBehaviour,
        body: RequestBody,
        context: MockRequestContext,
        credential: String?
    ) async throws -> Response? {
        // Keys can carry faults too, so tests can give one provider a good and a bad credential.
        if let credential, credential.contains(MockBehaviour.revokedKeyMarker) {
            return self.error(.unauthenticated, message: "mock: this key is revoked")
        }
        if let credential, credential.contains(MockBehaviour.limitedKeyMarker) {
            return self.error(.rateLimited, message: "mock: this key is rate limited", retryAfterSeconds: behaviour.retryAfterSeconds ?? 1)
        }
        switch behaviour.fault {
        case .status500:
            return self.error(.internalError, message: "mock: injected internal error")
        case .status429:
            return self.error(.rateLimited, message: "mock: injected rate limit", retryAfterSeconds: behaviour.retryAfterSeconds ?? 1)
        case .status400:
            return self.error(.badRequest, message: "mock: injected bad request", code: "mock_bad_request")
        case .status401:
            return self.error(.unauthenticated, message: "mock: Incorrect API key provided: \(credential ?? "<none>")")
        case .status403:
            return self.error(.permissionDenied, message: "mock: injected permission denied")
        case .status503:
            return self.error(.unavailable, message: "mock: injected service unavailable", retryAfterSeconds: behaviour.retryAfterSeconds)
        case .status529:
            return self.error(.overloaded, message: "mock: injected overload", retryAfterSeconds: behaviour.retryAfterSeconds)
        case .hang:
            try await Self.hang(body)
            return self.error(.timeout, message: "mock: hung request released")
        case .reset:
            try await context.channel.close()
            throw CancellationError()
        case .cut, .streamError, .none:
            return nil
        }
    }

    /// Waits until the caller goes away, or two minutes.
    static func hang(_ body: RequestBody) async throws {
        let callerGone = CallerGone()
        let deadline = ContinuousClock.now + .seconds(120)
        try await body.consumeWithInboundCloseHandler { _ in
            while !callerGone.value.withLock({ $0 }), ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
        } onInboundClosed: {
            callerGone.value.withLock { $0 = true }
        }
    }

    static func openAIType(_ problem: MockProblem) -> (type: String, code: String?) {
        switch problem {
        case .badRequest: return ("invalid_request_error", nil)
        case .unauthenticated: return ("invalid_request_error", "invalid_api_key")
        case .permissionDenied: return ("permission_error", nil)
        case .notFound: return ("invalid_request_error", "not_found")
        case .rateLimited: return ("rate_limit_error", "rate_limit_exceeded")
        case .internalError: return ("server_error", nil)
        case .unavailable: return ("server_error", "service_unavailable")
        case .timeout: return ("server_error", nil)
        case .overloaded: return ("server_error", "overloaded")
        }
    }

    static func anthropicType(_ problem: MockProblem) -> String {
        switch problem {
        case .badRequest: "invalid_request_error"
        case .unauthenticated: "authentication_error"
        case .permissionDenied: "permission_error"
        case .notFound: "not_found_error"
        case .rateLimited: "rate_limit_error"
        case .internalError, .unavailable: "api_error"
        case .timeout: "timeout_error"
        case .overloaded: "overloaded_error"
        }
    }

    static func googleStatus(_ problem: MockProblem) -> String {
        switch problem {
        case .badRequest: "INVALID_ARGUMENT"
        case .unauthenticated: "UNAUTHENTICATED"
        case .permissionDenied: "PERMISSION_DENIED"
        case .notFound: "NOT_FOUND"
        case .rateLimited: "RESOURCE_EXHAUSTED"
        case .internalError: "INTERNAL"
        case .unavailable, .overloaded: "UNAVAILABLE"
        case .timeout: "DEADLINE_EXCEEDED"
        }
    }
}

/// A streamed answer, written frame by frame (SSE events, or pieces of a JSON array), with the
/// per-token latency before token frames and `fault-cut` applied.
struct MockStream: Sendable {
    /// The exact bytes of each frame, framing included (`data: …\n\n`).
    var frames: [String]
    /// Indices of the frames that each carry one token and wait one token's latency first.
    var tokenFrames: Range<Int>
    /// With `fault-cut`: the connection is dropped instead of writing this frame (clamped so
    /// that at least the last frame is never written).
    var cutBefore: Int?
    var contentType: String = "text/event-stream"

    func response(latency: Duration, channel: any Channel) -> Response {
        let frames = self.frames
        let tokenFrames = self.tokenFrames
        let cutBefore = self.cutBefore.map { max(0, min($0, frames.count - 1)) }
        return Response(
            status: .ok,
            headers: [.contentType: self.contentType, .cacheControl: "no-cache"],
            body: ResponseBody { writer in
                for (index, frame) in frames.enumerated() {
                    if index == cutBefore {
                        // Let the frames already written reach the wire, then drop the connection.
                        try await Task.sleep(for: .milliseconds(50))
                        try await channel.close()
                        return
                    }
                    if tokenFrames.contains(index), latency > .zero { try await Task.sleep(for: latency) }
                    try await writer.write(ByteBuffer(string: frame))
                }
                try await writer.finish(nil)
            }
        )
    }
}

extension MockProvider {
    /// A complete JSON answer; with `cut`, only its first half is sent (under the full
    /// `content-length`) before the connection is closed.
    static func jsonBody(_ value: JSONValue, cut: Bool, channel: any Channel) -> Response {
        let text = encode(value)
        guard cut else {
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
        }
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
}
