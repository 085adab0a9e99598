import Foundation
public import Hummingbird
public import SwitchyardCore

extension JSONValue: ResponseGenerator {
    public func response(from request: Request, context: some RequestContext) throws -> Response {
        .json(self)
    }
}

/// How records look on the admin API.
extension AdminAPI {
    static func timestamp(_ date: Date) -> JSONValue {
        .string(date.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted)))
    }

    static func optional<T>(_ value: T?, _ transform: (T) -> JSONValue) -> JSONValue {
        value.map(transform) ?? .null
    }

    static func render(_ tenant: TenantRecord) -> JSONValue {
        [
            "name": .string(tenant.name), "display_name": .string(tenant.displayName), "labels": labels(tenant.labels),
            "policy": tenant.policy.json, "rate_limits": tenant.rateLimits.json,
            "created_at": timestamp(tenant.createdAt),
        ]
    }

    static func render(_ key: APIKeyRecord) -> JSONValue {
        [
            "id": .string(key.id), "name": .string(key.name), "prefix": .string(key.prefix), "labels": labels(key.labels),
            "expires_at": optional(key.expiresAt, timestamp), "allowed_routes": .array(key.allowedRoutes.map(JSONValue.string)),
            "metadata": labels(key.metadata), "policy": key.policy.json, "rate_limits": key.rateLimits.json,
            "created_at": timestamp(key.createdAt),
            "revoked_at": optional(key.revokedAt, timestamp),
        ]
    }

    static func render(_ provider: ProviderRecord) -> JSONValue {
        [
            "name": .string(provider.name), "kind": .string(provider.kind.rawValue), "base_url": .string(provider.baseURL),
            "has_api_key": .bool(!provider.credentials.isEmpty),
            "credentials": .array(
                provider.credentials.map { credential in
                    var entry: JSONValue = ["name": .string(credential.name), "weight": .int(Int64(credential.weight))]
                    if !credential.capacity.isEmpty { entry["capacity"] = credential.capacity.json }
                    return entry
                }
            ),
            "created_at": timestamp(provider.createdAt),
            "updated_at": timestamp(provider.updatedAt),
        ]
    }

    static func render(_ model: ModelRecord) -> JSONValue {
        [
            "name": .string(model.name), "provider": .string(model.provider), "upstream_model": .string(model.upstreamModel),
            "input_price_per_mtok": .double(model.inputPricePerMTok), "output_price_per_mtok": .double(model.outputPricePerMTok),
            "tags": labels(model.tags), "capabilities": .array(model.capabilities.map(JSONValue.string)),
            "request_price_usd": .double(BudgetConfig.usd(model.requestPriceMicros)),
            "created_at": timestamp(model.createdAt), "updated_at": timestamp(model.updatedAt),
        ]
    }

    static func labels(_ labels: [String: String]) -> JSONValue {
        .object(labels.mapValues(JSONValue.string))
    }

    /// A route revision: its spec in canonical form (defaults spelled out) plus its metadata.
    static func render(_ route: RouteRecord) -> JSONValue {
        var object = route.spec.json.objectValue ?? [:]
        object["alias"] = .string(route.alias)
        object["revision"] = .int(Int64(route.revision))
        object["comment"] = .string(route.comment)
        object["created_by"] = .string(route.createdBy)
        object["created_at"] = timestamp(route.createdAt)
        return .object(object)
    }

    static func render(_ node: NodeRecord) -> JSONValue {
        [
            "node_id": .string(node.nodeID), "boot_id": .string(node.bootID),
            "applied_version": optional(node.appliedVersion) { .int(Int64($0)) }, "applied_hash": optional(node.appliedHash, JSONValue.string),
            "status": optional(node.status, JSONValue.string), "rejected_version": optional(node.rejectedVersion) { .int(Int64($0)) },
            "reason": optional(node.reason, JSONValue.string), "last_seen_at": timestamp(node.lastSeenAt),
        ]
    }

    static func render(_ entry: AuditRecord) -> JSONValue {
        [
            "id": .int(Int64(entry.id)), "at": timestamp(entry.at), "actor": .string(entry.actor), "action": .string(entry.action),
            "object_type": .string(entry.objectType), "object_id": .string(entry.objectID),
            "config_version": .int(Int64(entry.configVersion)), "tenant": optional(entry.tenant, JSONValue.string),
            "detail": (try? JSONValue(parsing: entry.detail.utf8)) ?? .null,
        ]
    }
}
