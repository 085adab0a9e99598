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
/// credential (401, `insufficient_quota`) or a rate limit (429) switch to another credential first. When the
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
    /// The variables of the first attempt's prompt version, checked and rendered to text.
    let promptValues: [String: String]
    /// The client's request bytes (OpenAI chat completions), for a model rewrite in place.
    let rawBody: ByteBuffer?
    /// The request's budget reservation and spend record.
    let settlement: Settlement?
    let traceID: String
    /// When the route's `request_ms` runs out for this request.
    let requestDeadline: ContinuousClock.Instant
    let logger: Logger

    /// A retry or fallback started with less than this left of `request_ms` could only reach the
    /// provider to be abandoned there (and billed): the request ends instead.
    static let shortestAttempt: Duration = .milliseconds(50)

    var format: ClientFormat {
        if case .chat(_, let format) = self.operation { return format }
        return .openai
    }

    /// How one upstream call ended.
    enum Outcome {
        /// An answer for the client (success, or a refusal of the request that is relayed).
        case answered(Response)
        case failed(AttemptFailure, retryAfter: Duration?)
        /// A complete answer that fails the prompt's response schema.
        case invalidOutput(text: String, errors: [String])
    }

    /// An answer that failed the response schema, shown to the model in the repair retry.
    struct Repair {
        var output: String
        var errors: [String]
    }

    func run(_ decision: inout DecisionHeaders) async throws -> Response {
        let resilience = self.proxy.resilience
        let policy = self.plan.route.spec.retry
        var failures: [(failure: AttemptFailure, provider: String)] = []
        targets: for attempt in self.plan.attempts {
            let breaker = Resilience.breakerKey(attempt)
            let admission = resilience.admit(breaker)
            if admission == .rejected {
                self.note(.circuitOpen, attempt: attempt, decision: &decision)
                failures.append((.circuitOpen, attempt.provider.name))
                continue
            }
            // A probe of an open circuit is one call: no retries against a target just seen failing.
            let probing = admission == .probe
            var recorded = false
            defer { if probing, !recorded { resilience.releaseProbe(breaker) } }
            var retries = 0
            var switches = 0
            var counted = false
            var repair: Repair?
            retrying: while true {
                let floor = decision.attempts == 0 ? Duration.zero : Self.shortestAttempt
                guard ContinuousClock.now + floor < self.requestDeadline else {
                    failures.append((.timeout("the route's request_ms ran out"), attempt.provider.name))
                    break targets
                }
                let credential: ProviderCredential?
                let capacity: BudgetLedger.Reservation
                switch resilience.pickCredential(attempt.provider) {
                case .use(let picked):
                    guard let held = await self.capacity(attempt, preferred: picked) else {
                        // Not called: the provider would only answer 429.
                        self.note(.atCapacity, attempt: attempt, decision: &decision)
                        failures.append((.atCapacity, attempt.provider.name))
                        break retrying
                    }
                    (credential, capacity) = held
                case .cooling(let refused):
                    // Not called. A refused credential is a configuration fault, not a rate limit.
                    self.note(.credentialsCooling, attempt: attempt, decision: &decision)
                    failures.append((refused ? .misconfigured(401) : .credentialsCooling, attempt.provider.name))
                    break retrying
                }
                if !counted {
                    resilience.countRequest(attempt.model.name)
                    counted = true
                }
                try Task.checkCancellation()
                decision.attempts += 1
                decision.model = attempt.model.name
                decision.provider = attempt.provider.name
                decision.prompt = attempt.prompt?.label ?? ""
                let outcome: Outcome
                do {
                    outcome = try await self.call(attempt, credential: credential, decision: decision, repair: repair)
                } catch {
                    self.proxy.ledger.settle(capacity, actual: .worstCase)
                    throw error
                }
                // The credential's capacity: an answer settles it with the request (at the tokens
                // reported), a failure counts only the request.
                switch outcome {
                case .answered:
                    if let settlement = self.settlement {
                        settlement.holdCapacity(capacity)
                    } else {
                        self.proxy.ledger.settle(capacity, actual: .worstCase)
                    }
                case .failed:
                    self.proxy.ledger.settle(capacity, actual: BudgetLedger.Actual(answered: false, costMicros: nil, tokens: nil))
                case .invalidOutput:
                    self.proxy.ledger.settle(capacity, actual: .worstCase)
                }
                let failure: AttemptFailure
                let retryAfter: Duration?
                switch outcome {
                case .answered(let response):
                    resilience.record(breaker, healthy: true)
                    recorded = true
                    return response
                case .failed(let reason, let wait):
                    failure = reason
                    retryAfter = wait
                case .invalidOutput(let text, let errors):
                    // The target answered: healthy, whatever the quality of the answer.
                    resilience.record(breaker, healthy: true)
                    recorded = true
                    let prompt = attempt.prompt?.label ?? ""
                    decision.invalidOutput = true
                    self.proxy.metrics.qualityFailure(
                        route: self.plan.label,
                        model: attempt.model.name,
                        prompt: prompt,
                        kind: repair == nil ? "invalid_output" : "repair_failed"
                    )
                    let recovery = attempt.prompt?.spec.onInvalidOutput ?? .fail
                    // The repair is a retry of the target: it spends the target's retry budget.
                    if recovery == .repair, repair == nil, resilience.allowRetry(attempt.model.name, policy: policy) {
                        repair = Repair(output: text, errors: errors)
                        self.note(.invalidOutput(errors.joined(separator: "; ")), attempt: attempt, decision: &decision)
                        continue retrying
                    }
                    let invalid = AttemptFailure.invalidOutput(errors.joined(separator: "; "))
                    self.note(invalid, attempt: attempt, decision: &decision)
                    failures.append((invalid, attempt.provider.name))
                    guard recovery == .nextTarget else { throw Self.invalidOutputError(prompt: prompt, errors: errors, repaired: repair != nil) }
                    break retrying
                }
                if failure.indicatesUnhealthy {
                    resilience.record(breaker, healthy: false)
                    recorded = true
                } else if case .status = failure {
                    // A 429 is an answer: the target is up, only busy.
                    resilience.record(breaker, healthy: true)
                    recorded = true
                }
                // A target that could not take the request was never called.
                if case .unsupported = failure { decision.attempts -= 1 }
                self.note(failure, attempt: attempt, decision: &decision)
                failures.append((failure, attempt.provider.name))
                // A credential the provider refuses or rate-limits cools down; another one may work at once.
                if let credential, let cooldown = self.cooldown(for: failure, retryAfter: retryAfter, provider: attempt.provider) {
                    resilience.coolDown(
                        provider: attempt.provider.name,
                        credential: credential.name,
                        for: cooldown.duration,
                        refused: cooldown.refused
                    )
                    guard switches < attempt.provider.credentials.count - 1 else { break retrying }
                    switches += 1
                    continue
                }
                guard failure.isRetryable, retries < (probing ? 0 : policy.maxRetries),
                    let delay = Self.backoff(retry: retries, policy: policy, retryAfter: retryAfter),
                    ContinuousClock.now + delay + Self.shortestAttempt < self.requestDeadline,
                    resilience.allowRetry(attempt.model.name, policy: policy)
                else { break retrying }
                try await Task.sleep(for: delay)
                retries += 1
            }
        }
        throw Self.exhausted(failures, decision: decision)
    }

    /// A credential of the attempt's provider with room in its per-minute capacity (the picked one
    /// first), with what the attempt reserved from it; nil when every credential is at capacity.
    /// Leases held in memory are tried before the control plane is asked.
    func capacity(_ attempt: AttemptPlan.Attempt, preferred: ProviderCredential?) async -> (ProviderCredential?, BudgetLedger.Reservation)? {
        guard let preferred, attempt.provider.credentials.contains(where: { !$0.capacity.isEmpty }) else { return (preferred, .none) }
        let others = self.proxy.resilience.usableCredentials(attempt.provider).filter { $0.name != preferred.name }
        let worst = ChatProxy.worstCase(attempt, operation: self.operation)
        let tokens = max(1, Int64(worst.promptTokens) + Int64(worst.outputTokens))
        func entries(_ credential: ProviderCredential) -> [BudgetLedger.Entry] {
            credential.capacity.quotas(scope: "credential:\(attempt.provider.name)/\(credential.name)").map { quota in
                BudgetLedger.Entry(tenant: "", config: quota, amount: quota.metric == .requests ? 1 : tokens)
            }
        }
        for wait in [false, true] {
            for credential in [preferred] + others {
                if let reservation = try? await self.proxy.ledger.reserve(entries(credential), wait: wait) { return (credential, reservation) }
            }
        }
        return nil
    }

    /// How long a credential rests after `failure`, if at all: a key the provider refuses (401)
    /// or whose quota is gone (`insufficient_quota`) for a minute; a rate-limited key for its
    /// `Retry-After` (5 s without one) when waiting is not possible or another key can serve.
    /// A 403 is not the key's fault alone (it may depend on the request), so it does not cool.
    func cooldown(for failure: AttemptFailure, retryAfter: Duration?, provider: ProviderConfig) -> (duration: Duration, refused: Bool)? {
        let settings = self.proxy.resilience.settings
        switch failure {
        case .misconfigured(401), .misconfigured(429):
            return (settings.refusedCooldown, true)
        case .status(429):
            let tooLong = retryAfter.map { $0 > .milliseconds(self.plan.route.spec.retry.maxBackoffMs) } ?? false
            guard tooLong || provider.credentials.count > 1 else { return nil }
            return (retryAfter ?? settings.rateLimitCooldown, false)
        default:
            return nil
        }
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

    /// `retry-after-ms` (OpenAI), else `retry-after` in seconds; capped at a day (an upstream's
    /// header must never be able to overflow a duration).
    static func retryAfter(_ headers: HTTPHeaders) -> Duration? {
        let day = 86_400_000.0
        if let text = headers.first(name: "retry-after-ms"), let ms = Double(text), ms.isFinite, ms >= 0 {
            return .milliseconds(Int(min(ms, day).rounded(.up)))
        }
        if let text = headers.first(name: "retry-after"), let seconds = Double(text), seconds.isFinite, seconds >= 0 {
            return .milliseconds(Int(min(seconds * 1000, day).rounded(.up)))
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

    /// The answer when the model's output fails the prompt's response schema and the recovery
    /// is spent.
    static func invalidOutputError(prompt: String, errors: [String], repaired: Bool) -> APIError {
        APIError(
            status: 502,
            type: "upstream_error",
            code: "invalid_output",
            message: "The model's answer does not match the response schema of prompt '\(prompt)'"
                + (repaired ? " (also after one repair retry)" : "") + ": \(errors.prefix(3).joined(separator: "; "))"
        )
    }

    /// The client's error when no target answered, from what the attempts actually met: a
    /// target skipped (open circuit) or unable to take the request (unsupported) does not hide a
    /// real failure of another.
    static func exhausted(_ failures: [(failure: AttemptFailure, provider: String)], decision: DecisionHeaders) -> APIError {
        let summary = decision.failures.joined(separator: "; ")
        let real = failures.filter { entry in
            switch entry.failure {
            case .unsupported, .circuitOpen: false
            default: true
            }
        }
        if real.isEmpty, let unsupported = failures.first(where: { if case .unsupported = $0.failure { true } else { false } }),
            !failures.contains(where: { $0.failure == .circuitOpen })
        {
            // No target could take the request in its format: the request is the problem.
            if case .unsupported(let message) = unsupported.failure {
                return APIError.invalidRequest(message, code: "unsupported_by_target")
            }
        }
        let provider = real.last?.provider ?? failures.last?.provider ?? ""
        let failure = real.last?.failure ?? failures.last?.failure
        switch failure {
        case .status(429), .credentialsCooling, .atCapacity:
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
        case .invalidOutput(let detail):
            return APIError(
                status: 502,
                type: "upstream_error",
                code: "invalid_output",
                message: "No target's answer matched the prompt's response schema (\(detail))."
            )
        case .circuitOpen, .unsupported:
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
