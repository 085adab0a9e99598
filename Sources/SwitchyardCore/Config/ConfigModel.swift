/// The kind of API a provider speaks.
public enum ProviderKind: String, Sendable, Hashable, Codable, CaseIterable {
    case openai
    case anthropic
    case openaiCompatible = "openai_compatible"

    /// Whether the upstream speaks OpenAI's chat-completions wire format.
    public var speaksOpenAI: Bool { self != .anthropic }
}

/// An upstream provider as a node sees it (credentials already unsealed).
public struct ProviderConfig: Sendable, Hashable {
    public var name: String
    public var kind: ProviderKind
    public var baseURL: String
    /// The provider API key; `nil` when the provider needs none (e.g. a local vLLM).
    public var apiKey: String?

    public init(name: String, kind: ProviderKind, baseURL: String, apiKey: String?) {
        self.name = name
        self.kind = kind
        self.baseURL = baseURL
        self.apiKey = apiKey
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

    public init(name: String, provider: String, upstreamModel: String, inputPricePerMTok: Double, outputPricePerMTok: Double) {
        self.name = name
        self.provider = provider
        self.upstreamModel = upstreamModel
        self.inputPricePerMTok = inputPricePerMTok
        self.outputPricePerMTok = outputPricePerMTok
    }

    /// Cost in USD of a request with the given token counts.
    public func cost(promptTokens: Int, completionTokens: Int) -> Double {
        (Double(promptTokens) * self.inputPricePerMTok + Double(completionTokens) * self.outputPricePerMTok) / 1_000_000
    }
}

/// One place a request can be sent: a catalog model.
public struct Target: Sendable, Hashable, Codable {
    public var model: String
    public init(model: String) { self.model = model }
}

/// Time limits of one upstream attempt.
public struct Timeouts: Sendable, Hashable, Codable {
    public static let defaultFirstTokenMs = 30_000
    public static let defaultTotalMs = 120_000
    public static let maximumMs = 600_000

    /// Streaming requests: until the upstream's first chunk. (A non-streaming answer arrives
    /// whole, so only `totalMs` bounds it.)
    public var firstTokenMs: Int
    /// The whole attempt, body included.
    public var totalMs: Int

    public init(firstTokenMs: Int = Timeouts.defaultFirstTokenMs, totalMs: Int = Timeouts.defaultTotalMs) {
        self.firstTokenMs = firstTokenMs
        self.totalMs = totalMs
    }

    enum CodingKeys: String, CodingKey {
        case firstTokenMs = "first_token_ms"
        case totalMs = "total_ms"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.firstTokenMs = try container.decodeIfPresent(Int.self, forKey: .firstTokenMs) ?? Self.defaultFirstTokenMs
        self.totalMs = try container.decodeIfPresent(Int.self, forKey: .totalMs) ?? Self.defaultTotalMs
    }
}

/// One immutable revision of a route: what a client's `model` alias resolves to.
public struct RouteConfig: Sendable, Hashable {
    public var alias: String
    public var revision: Int
    public var defaultTarget: Target
    public var fallbacks: [Target]
    public var timeouts: Timeouts

    public init(alias: String, revision: Int, defaultTarget: Target, fallbacks: [Target], timeouts: Timeouts) {
        self.alias = alias
        self.revision = revision
        self.defaultTarget = defaultTarget
        self.fallbacks = fallbacks
        self.timeouts = timeouts
    }
}

/// An active virtual key of a tenant. Only the hash of the secret is known.
public struct APIKeyConfig: Sendable, Hashable {
    public var id: String
    public var name: String
    public var prefix: String
    /// Lower-case hex SHA-256 of the secret.
    public var sha256: String

    public init(id: String, name: String, prefix: String, sha256: String) {
        self.id = id
        self.name = name
        self.prefix = prefix
        self.sha256 = sha256
    }
}

/// Everything a node needs to serve one tenant.
public struct TenantConfig: Sendable, Hashable {
    public var name: String
    public var version: Int
    public var keys: [APIKeyConfig]
    public var routes: [RouteConfig]

    public init(name: String, version: Int, keys: [APIKeyConfig], routes: [RouteConfig]) {
        self.name = name
        self.version = version
        self.keys = keys
        self.routes = routes
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
