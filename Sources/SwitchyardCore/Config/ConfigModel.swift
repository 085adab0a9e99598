/// The kind of API a provider speaks.
public enum ProviderKind: String, Sendable, Hashable, Codable, CaseIterable {
    case openai
    case anthropic
    case openaiCompatible = "openai_compatible"
    case gemini

    /// Whether the upstream speaks OpenAI's chat-completions wire format.
    public var speaksOpenAI: Bool { self == .openai || self == .openaiCompatible }
}

/// One API key of a provider. A provider may hold several, picked by weight; one that the
/// provider refuses (401, `insufficient_quota`) or rate-limits (429) cools down for a while.
public struct ProviderCredential: Sendable, Hashable {
    public var name: String
    public var key: String
    public var weight: Int
    /// What the provider allows this key per minute, across the fleet: a node spreads requests
    /// over credentials with room instead of collecting 429s.
    public var capacity: RateLimits

    public init(name: String, key: String, weight: Int = 1, capacity: RateLimits = RateLimits()) {
        self.name = name
        self.key = key
        self.weight = weight
        self.capacity = capacity
    }
}

/// An upstream provider as a node sees it (credentials already unsealed).
public struct ProviderConfig: Sendable, Hashable {
    public var name: String
    public var kind: ProviderKind
    public var baseURL: String
    /// The provider's API keys; empty when it needs none (e.g. a local vLLM).
    public var credentials: [ProviderCredential]

    public init(name: String, kind: ProviderKind, baseURL: String, credentials: [ProviderCredential]) {
        self.name = name
        self.kind = kind
        self.baseURL = baseURL
        self.credentials = credentials
    }
}

/// A catalog entry: a name clients and routes use, served by one provider's upstream model.
public struct ModelConfig: Sendable, Hashable {
    public var name: String
    public var provider: String
    public var upstreamModel: String
    /// USD per one million input tokens.
    public var inputPricePerMTok: Double
    /// USD per one million output tokens.
    public var outputPricePerMTok: Double
    /// Governance tags (`region: eu`, `data_residency: eu`, …) that serving policies test.
    public var tags: [String: String]
    /// What the model can do (`tools`, `vision`, …); empty = not declared (anything goes).
    public var capabilities: Set<String>
    /// A surcharge per request, in micro-dollars.
    public var requestPriceMicros: Int64
    /// Scheduled and past price changes, oldest first; the fields above are the price before the
    /// first of them.
    public var priceVersions: [ModelPrice]

    public init(
        name: String,
        provider: String,
        upstreamModel: String,
        inputPricePerMTok: Double,
        outputPricePerMTok: Double,
        tags: [String: String] = [:],
        capabilities: Set<String> = [],
        requestPriceMicros: Int64 = 0,
        priceVersions: [ModelPrice] = []
    ) {
        self.requestPriceMicros = requestPriceMicros
        self.priceVersions = priceVersions.sorted { $0.effectiveAtUnixMs < $1.effectiveAtUnixMs }
        self.name = name
        self.provider = provider
        self.upstreamModel = upstreamModel
        self.inputPricePerMTok = inputPricePerMTok
        self.outputPricePerMTok = outputPricePerMTok
        self.tags = tags
        self.capabilities = capabilities
    }

    /// Cost in USD of a request with the given token counts.
    public func cost(promptTokens: Int, completionTokens: Int) -> Double {
        (Double(promptTokens) * self.inputPricePerMTok + Double(completionTokens) * self.outputPricePerMTok) / 1_000_000
    }
}

/// One immutable revision of a route: what a client's `model` alias resolves to.
public struct RouteConfig: Sendable, Hashable {
    public var alias: String
    public var revision: Int
    public var spec: RouteSpec

    public init(alias: String, revision: Int, spec: RouteSpec) {
        self.alias = alias
        self.revision = revision
        self.spec = spec
    }
}

/// An active virtual key of a tenant. Only the hash of the secret is known.
public struct APIKeyConfig: Sendable, Hashable {
    public var id: String
    public var name: String
    public var prefix: String
    /// Lower-case hex SHA-256 of the secret.
    public var sha256: String
    /// The settings most keys leave at their defaults, in one shared box that is `nil` when all
    /// are defaults: a node holding 100,000 keys keeps 8 bytes per key for them instead of 72.
    private var extras: Extras?

    /// Labels route rules can test (`key.labels.<name>`).
    public var labels: [String: String] {
        get { self.extras?.value.labels ?? [:] }
        set { self.update { $0.labels = newValue } }
    }
    /// When the key stops working, in Unix milliseconds; `nil` = never.
    public var expiresAtUnixMs: Int64? {
        get { self.extras?.value.expiresAtUnixMs }
        set { self.update { $0.expiresAtUnixMs = newValue } }
    }
    /// Route aliases the key may call; empty = every route of its tenant.
    public var allowedRoutes: Set<String> {
        get { self.extras?.value.allowedRoutes ?? [] }
        set { self.update { $0.allowedRoutes = newValue } }
    }
    /// Which models may serve this key (on top of its tenant's policy).
    public var policy: ServingPolicy {
        get { self.extras?.value.policy ?? ServingPolicy() }
        set { self.update { $0.policy = newValue } }
    }
    /// Requests and tokens per minute for this key, across the fleet.
    public var rateLimits: RateLimits {
        get { self.extras?.value.rateLimits ?? RateLimits() }
        set { self.update { $0.rateLimits = newValue } }
    }

    public init(
        id: String,
        name: String,
        prefix: String,
        sha256: String,
        labels: [String: String] = [:],
        expiresAtUnixMs: Int64? = nil,
        allowedRoutes: Set<String> = [],
        policy: ServingPolicy = ServingPolicy()
    ) {
        self.id = id
        self.name = name
        self.prefix = prefix
        self.sha256 = sha256
        let extras = ExtrasValue(labels: labels, expiresAtUnixMs: expiresAtUnixMs, allowedRoutes: allowedRoutes, policy: policy)
        self.extras = extras == ExtrasValue() ? nil : Extras(extras)
    }

    private struct ExtrasValue: Sendable, Hashable {
        var labels: [String: String] = [:]
        var expiresAtUnixMs: Int64?
        var allowedRoutes: Set<String> = []
        var policy = ServingPolicy()
        var rateLimits = RateLimits()
    }

    /// Immutable, so copies of a key share it; a change makes a new box.
    private final class Extras: Sendable, Hashable {
        let value: ExtrasValue

        init(_ value: ExtrasValue) { self.value = value }

        static func == (lhs: Extras, rhs: Extras) -> Bool { lhs === rhs || lhs.value == rhs.value }

        func hash(into hasher: inout Hasher) { hasher.combine(self.value) }
    }

    private mutating func update(_ change: (inout ExtrasValue) -> Void) {
        var value = self.extras?.value ?? ExtrasValue()
        change(&value)
        self.extras = value == ExtrasValue() ? nil : Extras(value)
    }

    /// Whether the key has expired at `nowUnixMs`.
    public func isExpired(nowUnixMs: Int64) -> Bool {
        self.expiresAtUnixMs.map { nowUnixMs >= $0 } ?? false
    }

    /// Whether the key may call the route `alias`.
    public func mayUse(route alias: String) -> Bool {
        self.allowedRoutes.isEmpty || self.allowedRoutes.contains(alias)
    }
}

/// Everything a node needs to serve one tenant.
public struct TenantConfig: Sendable, Hashable {
    public var name: String
    public var version: Int
    /// Labels route rules can test (`tenant.labels.<name>`).
    public var labels: [String: String]
    public var keys: [APIKeyConfig]
    public var routes: [RouteConfig]
    /// Which models may serve this tenant.
    public var policy: ServingPolicy
    /// The prompt versions its routes use (directly or through a label).
    public var prompts: [PromptVersionConfig]
    /// Prompt name → label → version.
    public var promptLabels: [String: [String: Int]]
    /// The tenant's budgets.
    public var budgets: [BudgetConfig]
    /// Requests and tokens per minute for all of the tenant's keys together, across the fleet.
    public var rateLimits: RateLimits = RateLimits()

    public init(
        name: String,
        version: Int,
        labels: [String: String] = [:],
        keys: [APIKeyConfig],
        routes: [RouteConfig],
        policy: ServingPolicy = ServingPolicy(),
        prompts: [PromptVersionConfig] = [],
        promptLabels: [String: [String: Int]] = [:],
        budgets: [BudgetConfig] = []
    ) {
        self.budgets = budgets
        self.policy = policy
        self.prompts = prompts
        self.promptLabels = promptLabels
        self.name = name
        self.version = version
        self.labels = labels
        self.keys = keys
        self.routes = routes
    }
}

/// One immutable version of a tenant's prompt.
public struct PromptVersionConfig: Sendable, Hashable {
    public var name: String
    public var version: Int
    public var spec: PromptSpec

    public init(name: String, version: Int, spec: PromptSpec) {
        self.name = name
        self.version = version
        self.spec = spec
    }
}

/// A whole configuration as compiled by the control plane for one config version.
public struct ConfigSnapshot: Sendable, Hashable {
    public var version: Int
    public var providers: [ProviderConfig]
    public var models: [ModelConfig]
    public var tenants: [TenantConfig]

    public init(version: Int, providers: [ProviderConfig], models: [ModelConfig], tenants: [TenantConfig]) {
        self.version = version
        self.providers = providers
        self.models = models
        self.tenants = tenants
    }
}
