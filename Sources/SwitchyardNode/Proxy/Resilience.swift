import SwitchyardCore
import Synchronization

/// Node-local health state shared by all requests: a circuit breaker per (provider, upstream
/// model), a retry budget per target model, and credential cool-downs. Each node keeps its own;
/// nothing here needs to agree across the fleet.
final class Resilience: Sendable {
    struct Settings: Sendable {
        /// Consecutive unhealthy outcomes that open a circuit.
        var breakerThreshold = 5
        /// How long an open circuit refuses calls before it lets one probe through.
        var breakerOpenFor: Duration = .seconds(30)
        /// The retry budget's window.
        var budgetWindow: Duration = .seconds(10)
        /// Cool-down of a credential the provider refused (401, or 429 `insufficient_quota`).
        var refusedCooldown: Duration = .seconds(60)
        /// Cool-down of a rate-limited credential when the provider gave no `Retry-After`.
        var rateLimitCooldown: Duration = .seconds(5)
        /// The longest cool-down a `Retry-After` can impose.
        var maxCooldown: Duration = .seconds(300)
    }

    enum Admission: Equatable {
        case allowed
        case probe
        case rejected
    }

    private struct Breaker {
        var failures = 0
        var openUntil: ContinuousClock.Instant?
        var probeStarted: ContinuousClock.Instant?
    }

    private struct Budget {
        var bucketStart: ContinuousClock.Instant
        var requests = 0
        var retries = 0
        var previousRequests = 0
        var previousRetries = 0
    }

    private struct Cooling {
        var until: ContinuousClock.Instant
        /// The provider refused the credential (401 or `insufficient_quota`), rather than rate-limiting it.
        var refused: Bool
    }

    /// The credential to call a provider with.
    enum CredentialPick: Equatable {
        /// Use this one (`nil`: the provider needs none).
        case use(ProviderCredential?)
        /// Every credential is cooling down; `refused` when at least one was refused by the
        /// provider (a configuration fault), else they are all rate-limited.
        case cooling(refused: Bool)
    }

    private struct State {
        var breakers: [String: Breaker] = [:]
        var budgets: [String: Budget] = [:]
        var cooling: [String: Cooling] = [:]
    }

    let settings: Settings
    private let state = Mutex(State())

    init(settings: Settings = .init()) {
        self.settings = settings
    }

    static func breakerKey(_ attempt: AttemptPlan.Attempt) -> String {
        "\(attempt.provider.name)|\(attempt.model.upstreamModel)"
    }

    // MARK: Circuit breaker

    /// Whether a call to the target may go out now. An open circuit lets one probe through once
    /// its open period has passed (and another if a probe has been out for that long again).
    func admit(_ key: String, now: ContinuousClock.Instant = .now) -> Admission {
        let openFor = self.settings.breakerOpenFor
        return self.state.withLock { state in
            guard var breaker = state.breakers[key], let openUntil = breaker.openUntil else { return .allowed }
            guard now >= openUntil else { return .rejected }
            if let started = breaker.probeStarted, now < started + openFor { return .rejected }
            breaker.probeStarted = now
            state.breakers[key] = breaker
            return .probe
        }
    }

    /// Records a call's outcome: `healthy` when the target answered (any status that is not a
    /// server fault), `false` when it failed in a way that says it is unwell.
    func record(_ key: String, healthy: Bool, now: ContinuousClock.Instant = .now) {
        let threshold = self.settings.breakerThreshold
        let openFor = self.settings.breakerOpenFor
        self.state.withLock { state in
            var breaker = state.breakers[key] ?? Breaker()
            if healthy {
                state.breakers[key] = nil
                return
            }
            breaker.failures += 1
            if breaker.openUntil != nil || breaker.failures >= threshold {
                breaker.openUntil = now + openFor
                breaker.probeStarted = nil
            }
            state.breakers[key] = breaker
        }
    }

    /// Lets another probe through at once: the probe ended without saying anything about the
    /// target's health (its credentials were cooling, or the request was cancelled).
    func releaseProbe(_ key: String) {
        self.state.withLock { state in
            state.breakers[key]?.probeStarted = nil
        }
    }

    // MARK: Retry budget

    /// Counts a first call to `target` (retries are counted by ``allowRetry(_:policy:now:)``).
    func countRequest(_ target: String, now: ContinuousClock.Instant = .now) {
        self.withBudget(target, now: now) { $0.requests += 1 }
    }

    /// Takes one retry from the target's budget if it has one: retries in the last window may be
    /// at most `budgetRatio` of its requests, plus `budgetMinRetries`.
    func allowRetry(_ target: String, policy: RetryPolicy, now: ContinuousClock.Instant = .now) -> Bool {
        self.withBudget(target, now: now) { budget in
            let requests = budget.requests + budget.previousRequests
            let retries = budget.retries + budget.previousRetries
            let allowed = Double(policy.budgetMinRetries) + policy.budgetRatio * Double(requests)
            guard Double(retries + 1) <= allowed else { return false }
            budget.retries += 1
            return true
        }
    }

    private func withBudget<T>(_ target: String, now: ContinuousClock.Instant, _ body: (inout Budget) -> T) -> T {
        let window = self.settings.budgetWindow
        return self.state.withLock { state in
            var budget = state.budgets[target] ?? Budget(bucketStart: now)
            // Two buckets of one window each: the current one and the one before it.
            if now >= budget.bucketStart + window {
                let skipped = now >= budget.bucketStart + window * 2
                budget.previousRequests = skipped ? 0 : budget.requests
                budget.previousRetries = skipped ? 0 : budget.retries
                budget.requests = 0
                budget.retries = 0
                budget.bucketStart = now
            }
            let result = body(&budget)
            state.budgets[target] = budget
            return result
        }
    }

    // MARK: Credentials

    /// A weighted random pick among the provider's credentials that are not cooling down (weight-0
    /// credentials only when no weighted one is available).
    func pickCredential(_ provider: ProviderConfig, now: ContinuousClock.Instant = .now) -> CredentialPick {
        guard !provider.credentials.isEmpty else { return .use(nil) }
        let (usable, refused): ([ProviderCredential], Bool) = self.state.withLock { state in
            var refused = false
            let usable = provider.credentials.filter { credential in
                guard let cooling = state.cooling["\(provider.name)/\(credential.name)"], now < cooling.until else { return true }
                refused = refused || cooling.refused
                return false
            }
            return (usable, refused)
        }
        guard !usable.isEmpty else { return .cooling(refused: refused) }
        let weighted = usable.filter { $0.weight > 0 }
        guard !weighted.isEmpty else { return .use(usable[0]) }
        var point = Int.random(in: 0..<weighted.reduce(0) { $0 + $1.weight })
        for credential in weighted {
            if point < credential.weight { return .use(credential) }
            point -= credential.weight
        }
        return .use(weighted[weighted.count - 1])
    }

    /// The provider's credentials not cooling down, the heaviest first.
    func usableCredentials(_ provider: ProviderConfig, now: ContinuousClock.Instant = .now) -> [ProviderCredential] {
        self.state.withLock { state in
            provider.credentials.filter { credential in
                guard let cooling = state.cooling["\(provider.name)/\(credential.name)"], now < cooling.until else { return true }
                return false
            }
        }.sorted { $0.weight > $1.weight }
    }

    func coolDown(provider: String, credential: String, for duration: Duration, refused: Bool, now: ContinuousClock.Instant = .now) {
        let until = now + min(duration, self.settings.maxCooldown)
        self.state.withLock { state in
            let key = "\(provider)/\(credential)"
            // An expired cool-down says nothing any more.
            let current = state.cooling[key].flatMap { now < $0.until ? $0 : nil }
            state.cooling[key] = Cooling(until: max(current?.until ?? until, until), refused: refused || (current?.refused ?? false))
        }
    }
}
