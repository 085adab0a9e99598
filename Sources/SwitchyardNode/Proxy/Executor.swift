import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import SwitchyardCore
import SwitchyardProviders

/// Runs one request's attempt plan.
///
/// Per target: skip it while its circuit is open; pick a credential that is not cooling down;
/// call it; on a retryable failure retry the same target with exponential backoff and jitter
/// (at least `Retry-After`), as long as the target's retry budget allows; on a refusal of the
/// credential (401/403) or a rate limit (429) switch to another credential first. When the
/// target is done for, move on to the next one in the plan. Once bytes of an answer reached the
/// client nothing is retried.
struct Executor {
    let proxy: ChatProxy
    let plan: AttemptPlan
    let chat: ChatRequest
    let logger: Logger

    /// How one upstream call ended.
    enum Outcome {
        /// An answer for the client (success, or a refusal of the request that is relayed).
        case answered(Response)
        case failed(AttemptFailure, retryAfter: Duration?)
    }

    func run(_ decision: inout DecisionHeaders) async throws -> Response {
        let resilience = self.proxy.resilience
        let policy = self.plan.route.spec.retry
        var lastFailure: AttemptFailure?
        var lastProvider = ""
        for attempt in self.plan.attempts {
            let breaker = Resilience.breakerKey(attempt)
            if resilience.admit(breaker) == .rejected {
                self.note(.circuitOpen, attempt: attempt, decision: &decision)
                lastFailure = .circuitOpen
                lastProvider = attempt.provider.name
                continue
            }
            resilience.countRequest(attempt.model.name)
            var retries = 0
            var switches = 0
            retrying: while true {
                let credential: ProviderCredential?
                switch resilience.pickCredential(attempt.provider) {
                case .use(let picked):
                    credential = picked
                case .cooling(let refused):
                    // Not called. A refused credential is a configuration fault, not a rate limit.
                    self.note(.credentialsCooling, attempt: attempt, decision: &decision)
                    lastFailure = refused ? .misconfigured(401) : .credentialsCooling
                    lastProvider = attempt.provider.name
                    break retrying
                }
                try Task.checkCancellation()
                decision.attempts += 1
                decision.model = attempt.model.name
                decision.provider = attempt.provider.name
                let outcome = try await self.call(attempt, credential: credential, decision: decision)
                let failure: AttemptFailure
                let retryAfter: Duration?
                switch outcome {
                case .answered(let response):
                    resilience.record(breaker, healthy: true)
                    return response
                case .failed(let reason, let wait):
                    failure = reason
                    retryAfter = wait
                }
                if failure.indicatesUnhealthy { resilience.record(breaker, healthy: false) }
                self.note(failure, attempt: attempt, decision: &decision)
                lastFailure = failure
                lastProvider = attempt.provider.name
                // A credential the provider refuses or rate-limits cools down; another one may work at once.
                if let credential {
                    var cooled = false
                    if case .misconfigured(let code) = failure, code == 401 || code == 403 {
                        resilience.coolDown(
                            provider: attempt.provider.name,
                            credential: credential.name,
                            for: resilience.settings.refusedCooldown,
                            refused: true
                        )
                        cooled = true
                    } else if failure == .status(429),
                        retryAfter.map({ $0 > .milliseconds(policy.maxBackoffMs) }) ?? true || attempt.provider.credentials.count > 1
                    {
                        resilience.coolDown(
                            provider: attempt.provider.name,
                            credential: credential.name,
                            for: retryAfter ?? resilience.settings.rateLimitCooldown,
                            refused: false
                        )
                        cooled = true
                    }
                    if cooled, switches < attempt.provider.credentials.count - 1 {
                        switches += 1
                        continue
                    }
                }
                guard failure.isRetryable, retries < policy.maxRetries,
                    let delay = Self.backoff(retry: retries, policy: policy, retryAfter: retryAfter),
                    resilience.allowRetry(attempt.model.name, policy: policy)
                else { break retrying }
                try await Task.sleep(for: delay)
                retries += 1
            }
        }
        throw Self.exhausted(lastFailure, provider: lastProvider, decision: decision)
    }

    /// The wait before retry number `retry + 1`: exponential, with equal jitter, and at least the
    /// provider's `Retry-After`. `nil` when `Retry-After` asks for longer than `max_backoff_ms`:
    /// then the request moves on rather than waiting.
    static func backoff(retry: Int, policy: RetryPolicy, retryAfter: Duration?) -> Duration? {
        let cap = min(policy.maxBackoffMs, policy.initialBackoffMs << min(retry, 20))
        var delay = Duration.milliseconds(Int.random(in: (cap / 2)...max(cap / 2, cap)))
        if let retryAfter {
            guard retryAfter <= .milliseconds(policy.maxBackoffMs) else { return nil }
            delay = max(delay, retryAfter)
        }
        return delay
    }

    /// `retry-after-ms` (OpenAI), else `retry-after` in seconds.
    static func retryAfter(_ headers: HTTPHeaders) -> Duration? {
        if let text = headers.first(name: "retry-after-ms"), let ms = Double(text), ms.isFinite, ms >= 0 {
            return .milliseconds(Int(ms.rounded(.up)))
        }
        if let text = headers.first(name: "retry-after"), let seconds = Double(text), seconds.isFinite, seconds >= 0 {
            return .milliseconds(Int((seconds * 1000).rounded(.up)))
        }
        return nil
    }

    private func note(_ failure: AttemptFailure, attempt: AttemptPlan.Attempt, decision: inout DecisionHeaders) {
        self.proxy.metrics.attempt(provider: attempt.provider.name, model: attempt.model.name, outcome: failure.label)
        decision.failures.append("\(attempt.model.name):\(failure.label)")
        self.logger.warning(
            "upstream attempt failed",
            metadata: [
                "model": "\(attempt.model.name)", "provider": "\(attempt.provider.name)", "failure": "\(failure)",
                "attempt": "\(decision.attempts)",
            ]
        )
    }

    static func exhausted(_ failure: AttemptFailure?, provider: String, decision: DecisionHeaders) -> APIError {
        let summary = decision.failures.joined(separator: "; ")
        switch failure {
        case .status(429), .credentialsCooling:
            return APIError(
                status: 429,
                type: "rate_limit_error",
                code: "upstream_rate_limited",
                message: "Every upstream for this route is rate limiting (\(summary))."
            )
        case .timeout:
            return APIError(status: 504, type: "upstream_error", code: "upstream_timeout", message: "No upstream answered in time (\(summary)).")
        case .misconfigured(let code):
            return APIError(
                status: 502,
                type: "upstream_error",
                code: "upstream_misconfigured",
                message:
                    "The provider '\(provider)' refused the router (HTTP \(code)); its credentials or base URL need fixing in the admin API (\(summary))."
            )
        case .circuitOpen:
            return APIError(
                status: 503,
                type: "upstream_error",
                code: "upstream_unavailable",
                message: "Every target of this route is failing and its circuit is open; retry later (\(summary))."
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

    // MARK: One call

    private func call(_ attempt: AttemptPlan.Attempt, credential: ProviderCredential?, decision: DecisionHeaders) async throws -> Outcome {
        let timeouts = self.plan.route.spec.timeouts
        let start = ContinuousClock.now
        let firstTokenDeadline = start + .milliseconds(timeouts.firstTokenMs)
        let totalDeadline = start + .milliseconds(timeouts.totalMs)
        do {
            let body = ByteBuffer(
                bytes: self.chat.upstreamBody(upstreamModel: attempt.model.upstreamModel, params: attempt.target.params).serialized()
            )
            let upstreamRequest = try self.proxy.adapter.makeRequest(
                provider: attempt.provider,
                credential: credential,
                body: body,
                stream: self.chat.stream
            )
            // A stream must start within first_token_ms; a complete answer has total_ms.
            let headDeadline = self.chat.stream ? min(firstTokenDeadline, totalDeadline) : totalDeadline
            let response = try await self.proxy.adapter.send(
                upstreamRequest,
                deadline: .now() + .milliseconds(ContinuousClock.now.duration(to: headDeadline).milliseconds),
                logger: self.logger
            )
            let status = Int(response.status.code)
            if (200..<300).contains(status) {
                if self.chat.stream {
                    return .answered(
                        try await self.relayStream(
                            response,
                            attempt: attempt,
                            decision: decision,
                            firstTokenDeadline: min(firstTokenDeadline, totalDeadline),
                            idle: .milliseconds(timeouts.idleMs),
                            totalDeadline: totalDeadline
                        )
                    )
                }
                let result = try await self.relayBody(response, attempt: attempt, decision: decision, deadline: totalDeadline)
                self.proxy.metrics.attempt(provider: attempt.provider.name, model: attempt.model.name, outcome: "ok")
                return .answered(result)
            }
            let failure = AttemptFailure.forStatus(status)
            guard failure.allowsFallback else {
                // The request itself was refused: the next target would get the same. No fallback.
                self.proxy.metrics.attempt(provider: attempt.provider.name, model: attempt.model.name, outcome: failure.label)
                return .answered(await self.relayRefusal(response, attempt: attempt, decision: decision, deadline: totalDeadline))
            }
            // Drain (bounded) so the connection can be reused, then report.
            _ = try? await withDeadline(min(totalDeadline, .now + .seconds(1))) { try await response.body.collect(upTo: 1 << 20) }
            return .failed(failure, retryAfter: Self.retryAfter(response.headers))
        } catch let error as APIError {
            // Decided, not a transport failure (e.g. an oversized answer): no fallback.
            self.proxy.metrics.attempt(provider: attempt.provider.name, model: attempt.model.name, outcome: error.code ?? "error")
            throw error
        } catch {
            let failure: AttemptFailure =
                error is DeadlineExceeded ? .timeout("no answer within the route's timeout") : ChatCompletionsAdapter.classify(error)
            return .failed(failure, retryAfter: nil)
        }
    }

    /// A complete (non-streaming) upstream answer, relayed with its status.
    private func relayBody(
        _ response: HTTPClientResponse,
        attempt: AttemptPlan.Attempt,
        decision: DecisionHeaders,
        deadline: ContinuousClock.Instant
    ) async throws -> Response {
        let limit = self.proxy.maxResponseBodyBytes
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
            self.proxy.metrics.tokens(route: self.plan.label, model: attempt.model.name, usage: usage)
        }
        var headers = HTTPFields()
        headers[.contentType] = response.headers.first(name: "content-type") ?? "application/json"
        decision.apply(to: &headers)
        return Response(status: .init(code: status), headers: headers, body: .init(byteBuffer: body))
    }

    /// The upstream refused the request itself (a 4xx other than 429 and the router-refusal
    /// codes): relayed when it is an OpenAI-shaped error, else summarized.
    private func relayRefusal(
        _ response: HTTPClientResponse,
        attempt: AttemptPlan.Attempt,
        decision: DecisionHeaders,
        deadline: ContinuousClock.Instant
    ) async -> Response {
        let status = Int(response.status.code)
        let body = try? await withDeadline(deadline) { try await response.body.collect(upTo: 1 << 20) }
        if let body, let json = try? JSONValue(parsing: body.readableBytesView),
            case .object = json["error"] ?? .null
        {
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            decision.apply(to: &headers)
            return Response(status: .init(code: status), headers: headers, body: .init(byteBuffer: body))
        }
        return ChatProxy.errorResponse(
            APIError(
                status: status,
                type: "invalid_request_error",
                code: "upstream_rejected",
                message: "The provider '\(attempt.provider.name)' rejected the request (HTTP \(status))."
            ),
            decision: decision
        )
    }

    /// A streaming answer: waits for the first chunk (so a silent or failing upstream still
    /// falls back), then relays server-sent events as they arrive, each gap bounded by `idle`.
    private func relayStream(
        _ response: HTTPClientResponse,
        attempt: AttemptPlan.Attempt,
        decision: DecisionHeaders,
        firstTokenDeadline: ContinuousClock.Instant,
        idle: Duration,
        totalDeadline: ContinuousClock.Instant
    ) async throws -> Response {
        let upstream = UpstreamBody(response.body)
        guard let first = try await withDeadline(firstTokenDeadline, { try await upstream.next() }) else {
            throw AttemptFailure.interrupted("stream ended before its first chunk")
        }
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        decision.apply(to: &headers)
        let metrics = self.proxy.metrics
        let resilience = self.proxy.resilience
        let breaker = Resilience.breakerKey(attempt)
        let includeUsage = self.chat.includeUsage
        let route = self.plan.label
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
                    let deadline = min(ContinuousClock.now + idle, totalDeadline)
                    do {
                        chunk = try await withDeadline(deadline) { try await upstream.next() }
                    } catch is DeadlineExceeded {
                        failure =
                            deadline == totalDeadline
                            ? "the route's total timeout expired mid-stream" : "the upstream went silent for longer than the route's idle timeout"
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
                    resilience.record(breaker, healthy: false)
                }
                if let usage = relay.usage { metrics.tokens(route: route, model: model, usage: usage) }
                metrics.attempt(provider: provider, model: model, outcome: failure == nil ? "ok" : "interrupted_mid_stream")
                try await writer.finish(nil)
            }
        )
    }
}
