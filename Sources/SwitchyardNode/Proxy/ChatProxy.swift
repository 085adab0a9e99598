import AsyncHTTPClient
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import SwitchyardCore
import SwitchyardProviders
import SwitchyardWire

/// `POST /v1/chat/completions`: authenticate, route, and run the attempt plan — the default
/// target, then the fallback chain on transport failures (connect errors, timeouts, 5xx, 429).
struct ChatProxy: Sendable {
    let state: SnapshotState
    let adapter: ChatCompletionsAdapter
    let metrics: NodeMetrics
    let maxRequestBodyBytes: Int
    let maxResponseBodyBytes: Int

    func handle(_ request: Request, context: some RequestContext) async -> Response {
        let started = ContinuousClock.now
        var decision = DecisionHeaders(traceID: DecisionHeaders.makeTraceID())
        var logger = context.logger
        logger[metadataKey: "trace_id"] = .string(decision.traceID)
        var routeLabel = "-"
        do {
            guard let snapshot = self.state.loaded else { throw APIError.notReady }
            let tenant = try Self.authenticate(request, table: snapshot.table)
            let chat = try await self.parse(request)
            let plan: AttemptPlan
            do {
                plan = try snapshot.table.plan(tenant: tenant, requestedModel: chat.model)
            } catch {
                throw APIError.unknownModel(chat.model)
            }
            decision.route = plan.route.alias
            decision.revision = String(plan.route.revision)
            routeLabel = plan.label
            let response = try await self.execute(plan, chat: chat, decision: &decision, logger: logger)
            self.metrics.request(route: routeLabel, status: response.status.code, duration: started.duration(to: .now))
            return response
        } catch let error as APIError {
            self.metrics.request(route: routeLabel, status: error.status, duration: started.duration(to: .now))
            return Self.errorResponse(error, decision: decision)
        } catch {
            logger.error("unexpected error", metadata: ["error": "\(String(reflecting: error))"])
            return Self.errorResponse(
                APIError(status: 500, type: "server_error", code: "internal_error", message: "Internal error (trace \(decision.traceID))."),
                decision: decision
            )
        }
    }

    static func authenticate(_ request: Request, table: RoutingTable) throws(APIError) -> String {
        guard let header = request.headers[.authorization] else { throw .missingKey }
        // The scheme is case-insensitive (RFC 9110 §11.1).
        guard header.utf8.count > 7, header.prefix(7).lowercased() == "bearer " else { throw .invalidKey }
        let key = header.dropFirst(7).trimmingCharacters(in: .whitespaces)
        guard APIKeyFormat.prefix(of: key) != nil, let entry = table.keysByHash[Hashing.sha256Hex(Data(key.utf8))] else {
            throw .invalidKey
        }
        return entry.tenant
    }

    private func parse(_ request: Request) async throws -> ChatRequest {
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: self.maxRequestBodyBytes)
        } catch {
            throw APIError(
                status: 413,
                type: "invalid_request_error",
                code: "request_too_large",
                message: "The request body exceeds \(self.maxRequestBodyBytes) bytes."
            )
        }
        let json: JSONValue
        do {
            json = try JSONValue(parsing: buffer.readableBytesView)
        } catch {
            throw APIError.invalidRequest(
                "We could not parse the JSON body of your request. The body must be a JSON object.",
                code: "invalid_json"
            )
        }
        return try ChatRequest(json: json)
    }

    // MARK: Attempts

    private func execute(
        _ plan: AttemptPlan,
        chat: ChatRequest,
        decision: inout DecisionHeaders,
        logger: Logger
    ) async throws -> Response {
        var lastFailure: AttemptFailure?
        for attempt in plan.attempts {
            decision.attempts += 1
            decision.model = attempt.model.name
            decision.provider = attempt.provider.name
            let attemptStart = ContinuousClock.now
            let timeouts = plan.route.timeouts
            let firstTokenDeadline = attemptStart + .milliseconds(timeouts.firstTokenMs)
            let totalDeadline = attemptStart + .milliseconds(timeouts.totalMs)
            do {
                let body = ByteBuffer(bytes: chat.upstreamBody(upstreamModel: attempt.model.upstreamModel).serialized())
                let upstreamRequest = try self.adapter.makeRequest(provider: attempt.provider, body: body, stream: chat.stream)
                // A stream must start within first_token_ms; a complete answer has total_ms.
                let headDeadline = chat.stream ? min(firstTokenDeadline, totalDeadline) : totalDeadline
                let response = try await self.adapter.send(
                    upstreamRequest,
                    deadline: .now() + .milliseconds(ContinuousClock.now.duration(to: headDeadline).milliseconds),
                    logger: logger
                )
                let status = Int(response.status.code)
                if (200..<300).contains(status) {
                    if chat.stream {
                        // The stream's outcome is recorded when it ends.
                        return try await self.relayStream(
                            response,
                            chat: chat,
                            attempt: attempt,
                            plan: plan,
                            decision: decision,
                            firstTokenDeadline: firstTokenDeadline,
                            totalDeadline: totalDeadline
                        )
                    }
                    let result = try await self.relayBody(response, attempt: attempt, plan: plan, decision: decision, deadline: totalDeadline)
                    self.metrics.attempt(provider: attempt.provider.name, model: attempt.model.name, outcome: "ok")
                    return result
                }
                let failure = AttemptFailure.status(status)
                guard failure.allowsFallback else {
                    // Not a transport failure: the next target would get the same. No fallback.
                    self.metrics.attempt(provider: attempt.provider.name, model: attempt.model.name, outcome: failure.label)
                    return await self.relayRefusal(response, attempt: attempt, decision: decision, deadline: totalDeadline)
                }
                // Drain (bounded) so the connection can be reused, then move on.
                _ = try? await withDeadline(min(totalDeadline, .now + .seconds(1))) { try await response.body.collect(upTo: 1 << 20) }
                throw failure
            } catch let error as APIError {
                // Decided, not a transport failure (e.g. an oversized answer): no fallback.
                self.metrics.attempt(provider: attempt.provider.name, model: attempt.model.name, outcome: error.code ?? "error")
                throw error
            } catch {
                let failure: AttemptFailure =
                    error is DeadlineExceeded ? .timeout("no answer within the route's timeout") : ChatCompletionsAdapter.classify(error)
                self.metrics.attempt(provider: attempt.provider.name, model: attempt.model.name, outcome: failure.label)
                decision.failures.append("\(attempt.model.name):\(failure.label)")
                logger.warning(
                    "upstream attempt failed",
                    metadata: [
                        "model": "\(attempt.model.name)", "provider": "\(attempt.provider.name)", "failure": "\(failure)",
                        "attempt": "\(decision.attempts)",
                    ]
                )
                lastFailure = failure
            }
        }
        throw Self.exhausted(lastFailure, decision: decision)
    }

    static func exhausted(_ failure: AttemptFailure?, decision: DecisionHeaders) -> APIError {
        let summary = decision.failures.joined(separator: "; ")
        switch failure {
        case .status(429):
            return APIError(
                status: 429,
                type: "rate_limit_error",
                code: "upstream_rate_limited",
                message: "Every upstream for this route is rate limiting (\(summary))."
            )
        case .timeout:
            return APIError(
                status: 504,
                type: "upstream_error",
                code: "upstream_timeout",
                message: "No upstream answered in time (\(summary))."
            )
        default:
            return APIError(
                status: 502,
                type: "upstream_error",
                code: "upstream_unavailable",
                message: "All \(decision.attempts) upstream attempts failed (\(summary))."
            )
        }
    }

    /// A complete (non-streaming) upstream answer, relayed with its status.
    private func relayBody(
        _ response: HTTPClientResponse,
        attempt: AttemptPlan.Attempt,
        plan: AttemptPlan,
        decision: DecisionHeaders,
        deadline: ContinuousClock.Instant
    ) async throws -> Response {
        let limit = self.maxResponseBodyBytes
        let body: ByteBuffer
        do {
            body = try await withDeadline(deadline) { try await response.body.collect(upTo: limit) }
        } catch is NIOTooManyBytesError {
            throw APIError(
                status: 502,
                type: "upstream_error",
                code: "upstream_response_too_large",
                message: "The provider's answer exceeds this node's limit of \(limit) bytes."
            )
        }
        let status = Int(response.status.code)
        if (200..<300).contains(status), let json = try? JSONValue(parsing: body.readableBytesView),
            let usage = Usage(completion: json)
        {
            self.metrics.tokens(route: plan.label, model: attempt.model.name, usage: usage)
        }
        var headers = HTTPFields()
        headers[.contentType] = response.headers.first(name: "content-type") ?? "application/json"
        decision.apply(to: &headers)
        return Response(status: .init(code: status), headers: headers, body: .init(byteBuffer: body))
    }

    /// The upstream refused the request with a status that allows no fallback (4xx other than
    /// 429). A refusal of the request itself (400, 413, 422, …) is relayed when it is an
    /// OpenAI-shaped error; a refusal of the router (401, 403, 404, 407: bad provider
    /// credentials or base URL) is the operator's problem and becomes a 502 that names the
    /// provider but never relays its body (it may echo part of the provider key).
    private func relayRefusal(
        _ response: HTTPClientResponse,
        attempt: AttemptPlan.Attempt,
        decision: DecisionHeaders,
        deadline: ContinuousClock.Instant
    ) async -> Response {
        let status = Int(response.status.code)
        let body = try? await withDeadline(deadline) { try await response.body.collect(upTo: 1 << 20) }
        if [401, 403, 404, 407].contains(status) {
            return Self.errorResponse(
                APIError(
                    status: 502,
                    type: "upstream_error",
                    code: "upstream_misconfigured",
                    message:
                        "The provider '\(attempt.provider.name)' refused the router (HTTP \(status)); its credentials or base URL need fixing in the admin API."
                ),
                decision: decision
            )
        }
        if let body, let json = try? JSONValue(parsing: body.readableBytesView),
            case .object = json["error"] ?? .null
        {
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            decision.apply(to: &headers)
            return Response(status: .init(code: status), headers: headers, body: .init(byteBuffer: body))
        }
        return Self.errorResponse(
            APIError(
                status: status,
                type: "invalid_request_error",
                code: "upstream_rejected",
                message: "The provider '\(attempt.provider.name)' rejected the request (HTTP \(status))."
            ),
            decision: decision
        )
    }

    /// A streaming answer: waits for the first chunk (so a silent upstream still falls back),
    /// then relays server-sent events one by one as they arrive.
    private func relayStream(
        _ response: HTTPClientResponse,
        chat: ChatRequest,
        attempt: AttemptPlan.Attempt,
        plan: AttemptPlan,
        decision: DecisionHeaders,
        firstTokenDeadline: ContinuousClock.Instant,
        totalDeadline: ContinuousClock.Instant
    ) async throws -> Response {
        let upstream = UpstreamBody(response.body)
        guard let first = try await withDeadline(min(firstTokenDeadline, totalDeadline), { try await upstream.next() }) else {
            throw AttemptFailure.interrupted("stream ended before its first chunk")
        }
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        decision.apply(to: &headers)
        let metrics = self.metrics
        let includeUsage = chat.includeUsage
        let route = plan.label
        let model = attempt.model.name
        let provider = attempt.provider.name
        return Response(
            status: .ok,
            headers: headers,
            body: ResponseBody { writer in
                var relay = SSERelay(includeUsage: includeUsage)
                var chunk: ByteBuffer? = first
                var failure: String?
                while let current = chunk {
                    for event in relay.feed(current) { try await writer.write(ByteBuffer(bytes: event)) }
                    if relay.pendingBytes > SSERelay.maxEventBytes {
                        failure = "the upstream sent an event larger than \(SSERelay.maxEventBytes) bytes"
                        break
                    }
                    do {
                        chunk = try await withDeadline(totalDeadline) { try await upstream.next() }
                    } catch is DeadlineExceeded {
                        failure = "the route's total timeout expired mid-stream"
                        chunk = nil
                    } catch {
                        failure = "the upstream connection failed mid-stream"
                        chunk = nil
                    }
                }
                // An unterminated last event is relayed on a clean end only; after a failure it is
                // a fragment, and the error event must start on a line of its own.
                if failure == nil { for event in relay.finish() { try await writer.write(ByteBuffer(bytes: event)) } }
                if failure == nil, !relay.sawDone { failure = "the upstream ended the stream without [DONE]" }
                if let failure {
                    // Once bytes reached the client there is no fallback: say what happened, in-band.
                    try await writer.write(ByteBuffer(bytes: SSERelay.errorEvent(failure)))
                }
                if let usage = relay.usage { metrics.tokens(route: route, model: model, usage: usage) }
                metrics.attempt(provider: provider, model: model, outcome: failure == nil ? "ok" : "interrupted_mid_stream")
                try await writer.finish(nil)
            }
        )
    }

    static func errorResponse(_ error: APIError, decision: DecisionHeaders) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        decision.apply(to: &headers)
        return Response(
            status: .init(code: error.status),
            headers: headers,
            body: .init(byteBuffer: ByteBuffer(bytes: error.json.serialized()))
        )
    }
}
