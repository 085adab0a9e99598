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
    /// What the client asked for.
    enum Operation {
        case chat(ChatRequest, ClientFormat)
        case embeddings([String: JSONValue])
    }

    let proxy: ChatProxy
    let plan: AttemptPlan
    let operation: Operation
    /// The route alias the client named (Anthropic answers report it as the model).
    let alias: String
    let traceID: String
    let logger: Logger

    var format: ClientFormat {
        if case .chat(_, let format) = self.operation { return format }
        return .openai
    }

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
                        retryAfter.map({ $0 > .milliseconds(policy.maxBackoffMs) }) ?? false || attempt.provider.credentials.count > 1
                    {
                        resilience.coolDown(
                            provider: attempt.provider.name,
                            credential: credential.name,
                            for: retryAfter ?? resilience.settings.rateLimitCooldown,
                            refused: false
                        )
                        cooled = true
                    }
                    if cooled {
                        guard switches < attempt.provider.credentials.count - 1 else { break retrying }
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
        case .unsupported(let message):
            // No target could take the request in its format: the request is the problem.
            return APIError.invalidRequest(message, code: "unsupported_by_target")
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
}
