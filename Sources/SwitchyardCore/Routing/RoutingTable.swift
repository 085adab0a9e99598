/// A snapshot indexed for the hot path: every lookup a request needs is one dictionary access.
/// Built once per snapshot swap, then shared read-only by all requests.
public struct RoutingTable: Sendable {
    public struct TenantIndex: Sendable {
        public var name: String
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
        self.version = snapshot.version
        self.providers = Dictionary(snapshot.providers.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        self.models = Dictionary(snapshot.models.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var keys: [String: KeyEntry] = [:]
        var tenants: [String: TenantIndex] = [:]
        for tenant in snapshot.tenants {
            for key in tenant.keys {
                keys[key.sha256] = KeyEntry(tenant: tenant.name, key: key)
            }
            tenants[tenant.name] = TenantIndex(
                name: tenant.name,
                routes: Dictionary(tenant.routes.map { ($0.alias, $0) }, uniquingKeysWith: { first, _ in first }),
                aliases: tenant.routes.map(\.alias).sorted()
            )
        }
        self.keysByHash = keys
        self.tenants = tenants
    }

    /// The attempt plan for `requestedModel` from `tenant`: the route's default target, then its
    /// fallback chain, each resolved to a model and provider.
    public func plan(tenant: String, requestedModel: String) throws(RoutingError) -> AttemptPlan {
        guard let index = self.tenants[tenant], let route = index.routes[requestedModel] else {
            throw .unknownModel(requestedModel)
        }
        var attempts: [AttemptPlan.Attempt] = []
        attempts.reserveCapacity(1 + route.fallbacks.count)
        for (position, target) in ([route.defaultTarget] + route.fallbacks).enumerated() {
            // A validated snapshot resolves every reference; skip defensively rather than crash.
            guard let model = self.models[target.model], let provider = self.providers[model.provider] else { continue }
            attempts.append(.init(model: model, provider: provider, isFallback: position > 0))
        }
        guard !attempts.isEmpty else { throw .noUsableTarget(requestedModel) }
        return AttemptPlan(tenant: tenant, route: route, attempts: attempts)
    }
}

/// The outcome of routing: which route revision decided, and the ordered attempts to make.
public struct AttemptPlan: Sendable {
    public struct Attempt: Sendable {
        public var model: ModelConfig
        public var provider: ProviderConfig
        public var isFallback: Bool
    }

    public var tenant: String
    public var route: RouteConfig
    public var attempts: [Attempt]

    /// `tenant/alias`, the route's name in metrics and logs.
    public var label: String { "\(self.tenant)/\(self.route.alias)" }
}

public enum RoutingError: Error, Sendable, Hashable {
    case unknownModel(String)
    case noUsableTarget(String)
}

/// How an upstream attempt failed, and whether the next target may be tried.
///
/// Fallback is for transport failures, not for quality: connection errors, timeouts, 5xx and 429
/// move on to the next target; any other 4xx is the caller's problem and is returned as is.
public enum AttemptFailure: Error, Sendable, Hashable {
    case connect(String)
    case timeout(String)
    case status(Int)
    case interrupted(String)
    case unsupported(String)

    public var allowsFallback: Bool {
        switch self {
        case .connect, .timeout, .interrupted, .unsupported: true
        case .status(let code): code == 429 || code >= 500
        }
    }

    /// A short label for headers, logs and metrics.
    public var label: String {
        switch self {
        case .connect: "connect_error"
        case .timeout: "timeout"
        case .status(let code): "status_\(code)"
        case .interrupted: "interrupted"
        case .unsupported: "unsupported"
        }
    }
}
