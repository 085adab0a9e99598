public import Foundation
public import SwitchyardCore

public struct TenantRecord: Sendable, Hashable {
    public var name: String
    public var displayName: String
    public var labels: [String: String]
    public var policy: ServingPolicy
    public var createdAt: Date
    public var rateLimits = RateLimits()
}

/// What an admin chooses for a new virtual key.
public struct KeySettings: Sendable, Hashable {
    public var name: String
    public var labels: [String: String]
    public var expiresAt: Date?
    public var allowedRoutes: [String]
    public var metadata: [String: String]
    public var policy: ServingPolicy
    public var rateLimits = RateLimits()

    public init(
        name: String,
        labels: [String: String] = [:],
        expiresAt: Date? = nil,
        allowedRoutes: [String] = [],
        metadata: [String: String] = [:],
        policy: ServingPolicy = ServingPolicy()
    ) {
        self.policy = policy
        self.name = name
        self.labels = labels
        self.expiresAt = expiresAt
        self.allowedRoutes = allowedRoutes
        self.metadata = metadata
    }
}

public struct APIKeyRecord: Sendable, Hashable {
    public var id: String
    public var tenant: String
    public var name: String
    public var prefix: String
    public var labels: [String: String]
    public var expiresAt: Date?
    public var allowedRoutes: [String]
    public var metadata: [String: String]
    public var policy: ServingPolicy
    public var createdAt: Date
    public var revokedAt: Date?
    public var rateLimits = RateLimits()
}

public struct ProviderRecord: Sendable {
    public var name: String
    public var kind: ProviderKind
    public var baseURL: String
    /// Names and weights of the provider's credentials (never the keys).
    public var credentials: [(name: String, weight: Int, capacity: RateLimits)]
    public var createdAt: Date
    public var updatedAt: Date
}

public struct ModelRecord: Sendable, Hashable {
    public var name: String
    public var provider: String
    public var upstreamModel: String
    public var inputPricePerMTok: Double
    public var outputPricePerMTok: Double
    public var tags: [String: String]
    public var capabilities: [String]
    public var requestPriceMicros: Int64
    public var createdAt: Date
    public var updatedAt: Date
}

/// One stored route revision: its spec and who wrote it.
public struct RouteRecord: Sendable, Hashable {
    public var tenant: String
    public var alias: String
    public var revision: Int
    public var spec: RouteSpec
    public var comment: String
    public var createdBy: String
    public var createdAt: Date
}

public struct NodeRecord: Sendable, Hashable {
    public var nodeID: String
    public var bootID: String
    public var appliedVersion: Int?
    public var appliedHash: String?
    public var status: String?
    public var rejectedVersion: Int?
    public var reason: String?
    public var lastSeenAt: Date
}

public struct AuditRecord: Sendable, Hashable {
    public var id: Int
    public var at: Date
    public var actor: String
    public var action: String
    public var objectType: String
    public var objectID: String
    public var configVersion: Int
    public var detail: String
    public var tenant: String?
}

/// A store operation that failed for a reason the caller caused.
public struct StoreError: Error, Sendable, Hashable {
    public enum Code: Sendable, Hashable {
        case notFound
        case conflict
        /// The database did not answer in time; nothing was written.
        case unavailable
    }

    public var code: Code
    public var message: String

    public static func notFound(_ message: String) -> StoreError { .init(code: .notFound, message: message) }
    public static func conflict(_ message: String) -> StoreError { .init(code: .conflict, message: message) }
    public static func unavailable(_ message: String) -> StoreError { .init(code: .unavailable, message: message) }
}

/// Which audit entries to list; `nil` fields do not filter.
public struct AuditFilter: Sendable, Hashable {
    public var tenant: String?
    public var objectType: String?
    public var objectID: String?
    public var actor: String?
    public var action: String?
    public var since: Date?
    public var until: Date?
    /// Only entries older than this id (the `next_before_id` of the previous page).
    public var beforeID: Int?

    public init() {}
}
