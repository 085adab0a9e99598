import Foundation
import Hummingbird
import SwitchyardCore

/// Admin tokens: `/admin/v1/tokens` for platform tokens (platform owners), and
/// `/admin/v1/tenants/{tenant}/tokens` for a tenant's tokens (its owners, or platform owners).
/// The secret is in the creation answer only; the store keeps its SHA-256.
extension AdminAPI {
    func registerTokens(on admin: RouterGroup<some RequestContext>) {
        admin.get("tokens") { _, _ in
            try self.authorizePlatform(.manageTokens)
            return Self.list(try await self.store.listAdminTokens(scope: .platform).map(Self.render))
        }
        admin.post("tokens") { request, context in
            try self.authorizePlatform(.manageTokens)
            return try await self.createToken(scope: .platform, input: try AdminInputs.Token(try await Self.body(request, context)))
        }
        admin.delete("tokens/:token_id") { _, context in
            try self.authorizePlatform(.manageTokens)
            return try await self.revokeToken(scope: .platform, id: try Self.param(context, "token_id"))
        }
        admin.get("tenants/:tenant/tokens") { _, context in
            let tenant = try await self.requireTenant(context, .manageTokens)
            return Self.list(try await self.store.listAdminTokens(scope: .tenant(tenant.name)).map(Self.render))
        }
        admin.post("tenants/:tenant/tokens") { request, context in
            let tenant = try await self.requireTenant(context, .manageTokens)
            return try await self.createToken(scope: .tenant(tenant.name), input: try AdminInputs.Token(try await Self.body(request, context)))
        }
        admin.delete("tenants/:tenant/tokens/:token_id") { _, context in
            let tenant = try await self.requireTenant(context, .manageTokens)
            return try await self.revokeToken(scope: .tenant(tenant.name), id: try Self.param(context, "token_id"))
        }
    }

    func createToken(scope: AdminScope, input: AdminInputs.Token) async throws -> Response {
        let (record, secret) = try await self.mapped {
            try await self.store.createAdminToken(scope: scope, name: input.name, role: input.role, expiresAt: input.expiresAt, actor: self.actor)
        }
        guard case .object(var body) = Self.render(record) else { return Response(status: .internalServerError) }
        body["secret"] = .string(secret)
        return Response.json(.object(body), status: .created)
    }

    func revokeToken(scope: AdminScope, id: String) async throws -> Response {
        let record = try await self.mapped { try await self.store.revokeAdminToken(scope: scope, id: id, actor: self.actor) }
        return Response.json(Self.render(record))
    }

    static func render(_ token: AdminTokenRecord) -> JSONValue {
        [
            "id": .string(token.id), "name": .string(token.name), "role": .string(token.role.rawValue),
            "tenant": optional(token.scope.tenant, JSONValue.string), "prefix": .string(token.prefix),
            "created_by": .string(token.createdBy), "created_at": timestamp(token.createdAt),
            "expires_at": optional(token.expiresAt, timestamp), "revoked_at": optional(token.revokedAt, timestamp),
        ]
    }

    static func render(_ principal: AdminPrincipal) -> JSONValue {
        [
            "scope": .string(principal.scope.tenant == nil ? "platform" : "tenant"),
            "tenant": optional(principal.scope.tenant, JSONValue.string), "role": .string(principal.role.rawValue),
            "actor": .string(principal.actor), "token_id": optional(principal.tokenID, JSONValue.string),
        ]
    }
}

extension AdminInputs {
    struct Token {
        var name: String
        var role: AdminRole
        var expiresAt: Date?

        init(_ json: JSONValue, now: Date = Date()) throws(FieldError) {
            let reader = try FieldReader(json, allowed: ["name", "role", "expires_at"])
            self.name = try reader.requiredString("name")
            guard !self.name.isEmpty, self.name.utf8.count <= 200, !self.name.utf8.contains(0) else {
                throw .invalid("name", "must be 1-200 bytes")
            }
            let role = try reader.requiredString("role")
            guard let parsed = AdminRole(rawValue: role) else { throw .invalid("role", "must be one of owner, editor, viewer") }
            self.role = parsed
            if let text = try reader.string("expires_at") {
                guard let date = try? Date(text, strategy: .iso8601) else {
                    throw .invalid("expires_at", "must be an RFC 3339 time with a zone, e.g. 2027-01-31T00:00:00Z")
                }
                guard date > now else { throw .invalid("expires_at", "must be in the future") }
                self.expiresAt = date
            }
        }
    }
}
