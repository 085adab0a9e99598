/// A snapshot indexed for the hot path: every lookup a request needs is one dictionary access.
/// Built once per snapshot swap, then shared read-only by all requests.
public struct RoutingTable: Sendable {
    public struct TenantIndex: Sendable {
        public var name: String
        public var labels: [String: String]
        public var routes: [String: RouteConfig]
        /// Route aliases in a stable order, for `GET /v1/models`.
        public var aliases: [String]
    }

    public struct KeyEntry: Sendable {
        public var tenant: String
        public var key: APIKeyConfig
    }

    public let version: Int
    public let keysByHash: [String: KeyEntry]
    public let tenants: [String: TenantIndex]
    public let models: [String: ModelConfig]
    public let providers: [String: ProviderConfig]

    /// Builds the index. Call only on a snapshot that passed ``ConfigSnapshot/validate(limits:)``.
    public init(_ snapshot: ConfigSnapshot) {
        self.init(version: snapshot.version, providers: snapshot.providers, models: snapshot.models, tenants: snapshot.tenants)
    }

    public init(version: Int, providers: [ProviderConfig], models: [ModelConfig], tenants: [TenantConfig]) {
        self.version = version
        self.providers = Dictionary(providers.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        self.models = Dictionary(models.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var keys: [String: KeyEntry] = [:]
        var index: [String: TenantIndex] = [:]
        for tenant in tenants {
            for key in tenant.keys {
                keys[key.sha256] = KeyEntry(tenant: tenant.name, key: key)
            }
            index[tenant.name] = TenantIndex(
                name: tenant.name,
                labels: tenant.labels,
                routes: Dictionary(tenant.routes.map { ($0.alias, $0) }, uniquingKeysWith: { first, _ in first }),
                aliases: tenant.routes.map(\.alias).sorted()
            )
        }
        self.keysByHash = keys
        self.tenants = index
    }

    /// The route a client's `model` names in its tenant.
    public func route(tenant: String, alias: String) throws(RoutingError) -> RouteConfig {
        guard let route = self.tenants[tenant]?.routes[alias] else { throw .unknownModel(alias) }
        return route
    }

    /// The attempt plan for a request: the route's rules pick the primary target, then the
    /// fallback chain follows — targets on another provider than the primary's first (a
    /// provider outage takes all its models down), the rest after, each in declared order.
    public func plan(tenant: String, route: RouteConfig, facts: RequestFacts) throws(RoutingError) -> AttemptPlan {
        let decision = route.spec.decide(facts, routeKey: "\(tenant)/\(route.alias)")
        var attempts: [AttemptPlan.Attempt] = []
        var skipped: [AttemptPlan.Skip] = []
        let choice =
            decision.rule == "default" ? "no rule matched, default branch" : "rule '\(decision.rule)' matched"
        let pick = decision.bucket.map { "; variant '\(decision.variant)' (sticky bucket \($0.point) of \($0.total))" } ?? ""
        guard let primary = self.resolve(decision.target) else {
            throw .noUsableTarget(route.alias)
        }
        attempts.append(.init(model: primary.model, provider: primary.provider, target: decision.target, isFallback: false, reason: choice + pick))
        var other: [AttemptPlan.Attempt] = []
        var same: [AttemptPlan.Attempt] = []
        var seen: Set<String> = [decision.target.model]
        for (position, target) in route.spec.fallbacks.enumerated() {
            guard seen.insert(target.model).inserted else {
                skipped.append(.init(model: target.model, reason: "fallbacks[\(position)] repeats a model already in the plan"))
                continue
            }
            // A validated snapshot resolves every reference; skip defensively rather than crash.
            guard let resolved = self.resolve(target) else {
                skipped.append(.init(model: target.model, reason: "fallbacks[\(position)] names a model missing from the catalog"))
                continue
            }
            if resolved.provider.name == primary.provider.name {
                same.append(
                    .init(
                        model: resolved.model,
                        provider: resolved.provider,
                        target: target,
                        isFallback: true,
                        reason: "fallbacks[\(position)]; same provider as the primary, so after other providers"
                    )
                )
            } else {
                other.append(
                    .init(
                        model: resolved.model,
                        provider: resolved.provider,
                        target: target,
                        isFallback: true,
                        reason: "fallbacks[\(position)]; provider '\(resolved.provider.name)' differs from the primary's"
                    )
                )
            }
        }
        attempts += other + same
        return AttemptPlan(tenant: tenant, route: route, decision: decision, attempts: attempts, skipped: skipped)
    }

    func resolve(_ target: Target) -> (model: ModelConfig, provider: ProviderConfig)? {
        guard let model = self.models[target.model], let provider = self.providers[model.provider] else { return nil }
        return (model, provider)
    }
}

/// The outcome of routing: which route revision and rule decided, and the ordered attempts.
public struct AttemptPlan: Sendable {
    public struct Attempt: Sendable {
        public var model: ModelConfig
        public var provider: ProviderConfig
        /// The target as the route wrote it (with its parameter overrides).
        public var target: Target
        public var isFallback: Bool
        /// Why this attempt is in the plan, at this position.
        public var reason: String
    }

    public struct Skip: Sendable, Hashable {
        public var model: String
        public var reason: String
    }

    public var tenant: String
    public var route: RouteConfig
    public var decision: RouteDecision
    public var attempts: [Attempt]
    /// Targets the route names that are not in the plan, and why.
    public var skipped: [Skip]

    /// `tenant/alias`, the route's name in metrics and logs.
    public var label: String { "\(self.tenant)/\(self.route.alias)" }
}

public enum RoutingError: Error, Sendable, Hashable {
    case unknownModel(String)
    case noUsableTarget(String)
}

/// How an upstream attempt failed, and what may happen next.
///
/// Fallback is for transport failures, not for quality: connection errors, timeouts, 5xx and 429
/// move on to the next target, and so does a provider refusing the router itself (bad
/// credentials or base URL: 401, 403, 404, 407, a redirect); any other 4xx is the caller's
/// problem and is returned as is.
public enum AttemptFailure: Error, Sendable, Hashable {
    case connect(String)
    case timeout(String)
    case status(Int)
    /// The provider refused the router (401, 403, 404, 407): a configuration fault.
    case misconfigured(Int)
    case interrupted(String)
    case unsupported(String)
    /// The circuit breaker of the target is open; it was not called.
    case circuitOpen
    /// Every credential of the provider is cooling down after 429 or 401/403; it was not called.
    case credentialsCooling

    public static func forStatus(_ code: Int) -> AttemptFailure {
        // A redirect (never followed) also means the base URL is wrong.
        [401, 403, 404, 407].contains(code) || (300..<400).contains(code) ? .misconfigured(code) : .status(code)
    }

    public var allowsFallback: Bool {
        switch self {
        case .status(let code): code == 429 || code >= 500
        default: true
        }
    }

    /// Whether trying the same target again (after a backoff) may help: the request never got an
    /// answer, or the provider said it is busy or briefly broken. A timeout already spent the
    /// attempt's time, so it moves on instead.
    public var isRetryable: Bool {
        switch self {
        case .connect, .interrupted: true
        case .status(let code): [429, 500, 502, 503, 504, 529].contains(code)
        default: false
        }
    }

    /// Whether the failure says the target is unhealthy (counts towards opening its circuit).
    /// A 429 is the provider's rate limit, handled by credential cool-down instead.
    public var indicatesUnhealthy: Bool {
        switch self {
        case .connect, .timeout, .interrupted: true
        case .status(let code): code >= 500
        default: false
        }
    }

    /// A short label for headers, logs and metrics.
    public var label: String {
        switch self {
        case .connect: "connect_error"
        case .timeout: "timeout"
        case .status(let code): "status_\(code)"
        case .misconfigured(let code): "refused_\(code)"
        case .interrupted: "interrupted"
        case .unsupported: "unsupported"
        case .circuitOpen: "circuit_open"
        case .credentialsCooling: "credentials_cooling"
        }
    }
}
