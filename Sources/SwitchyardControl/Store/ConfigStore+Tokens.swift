public import Foundation
import PostgresNIO
import SwitchyardCore
import SwitchyardWire

/// Who an admin token speaks for: the whole platform, or one tenant.
public enum AdminScope: Sendable, Hashable {
    case platform
    case tenant(String)

    public var tenant: String? {
        if case .tenant(let name) = self { return name }
        return nil
    }
}

/// What an admin token may do within its scope. An owner manages the scope's admin tokens, an
/// editor changes config, a viewer only reads.
public enum AdminRole: String, Sendable, Hashable, CaseIterable, Comparable {
    case viewer
    case editor
    case owner

    public static func < (lhs: AdminRole, rhs: AdminRole) -> Bool {
        Self.allCases.firstIndex(of: lhs)! < Self.allCases.firstIndex(of: rhs)!
    }
}

public struct AdminTokenRecord: Sendable, Hashable {
    public var id: String
    public var scope: AdminScope
    public var name: String
    public var role: AdminRole
    public var prefix: String
    public var createdBy: String
    public var createdAt: Date
    public var expiresAt: Date?
    public var revokedAt: Date?

    /// How the token's changes are signed in the audit log.
    public var actor: String { "\(self.name) (\(self.id))" }
}

/// The format of admin token secrets: `sya_` and 40 random characters; the first 12 characters
/// are the visible prefix.
public enum AdminTokenFormat {
    public static let marker = "sya_"

    public static func generate() -> (secret: String, prefix: String) {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
        let random = String((0..<40).map { _ in alphabet.randomElement(using: &generator)! })
        let secret = Self.marker + random
        return (secret, String(secret.prefix(12)))
    }
}

extension ConfigStore {
    static let tokenColumns = "id, tenant, name, role, prefix, created_by, created_at, expires_at, revoked_at"

    static func decodeTokens(_ rows: PostgresRowSequence) async throws -> [AdminTokenRecord] {
        var result: [AdminTokenRecord] = []
        for try await (id, tenant, name, role, prefix, createdBy, created, expires, revoked) in rows.decode(
            (String, String?, String, String, String, String, Date, Date?, Date?).self
        ) {
            result.append(
                AdminTokenRecord(
                    id: id,
                    scope: tenant.map(AdminScope.tenant) ?? .platform,
                    name: name,
                    role: AdminRole(rawValue: role) ?? .viewer,
                    prefix: prefix,
                    createdBy: createdBy,
                    createdAt: created,
                    expiresAt: expires,
                    revokedAt: revoked
                )
            )
        }
        return result
    }

    /// The live token with this secret hash: not revoked, not expired.
    public func activeAdminToken(secretHash: String) async throws -> AdminTokenRecord? {
        let rows = try await self.boundedQuery(
            PostgresQuery(
                unsafeSQL: """
                    SELECT \(Self.tokenColumns) FROM admin_tokens
                    WHERE secret_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
                    """,
                binds: {
                    var binds = PostgresBindings()
                    binds.append(secretHash)
                    return binds
                }()
            ),
            logger: self.logger
        )
        return try await Self.decodeTokens(rows).first
    }

    /// The admin tokens of a scope, oldest first (revoked ones included, marked).
    public func listAdminTokens(scope: AdminScope) async throws -> [AdminTokenRecord] {
        let rows: PostgresRowSequence
        switch scope {
        case .platform:
            rows = try await self.boundedQuery(
                PostgresQuery(unsafeSQL: "SELECT \(Self.tokenColumns) FROM admin_tokens WHERE tenant IS NULL ORDER BY created_at, id"),
                logger: self.logger
            )
        case .tenant(let tenant):
            rows = try await self.boundedQuery(
                PostgresQuery(
                    unsafeSQL: "SELECT \(Self.tokenColumns) FROM admin_tokens WHERE tenant = $1 ORDER BY created_at, id",
                    binds: {
                        var binds = PostgresBindings()
                        binds.append(tenant)
                        return binds
                    }()
                ),
                logger: self.logger
            )
        }
        return try await Self.decodeTokens(rows)
    }

    public func createAdminToken(
        scope: AdminScope,
        name: String,
        role: AdminRole,
        expiresAt: Date?,
        actor: String
    ) async throws -> (record: AdminTokenRecord, secret: String) {
        let (secret, prefix) = AdminTokenFormat.generate()
        let id = "adt_" + String(AdminTokenFormat.generate().secret.suffix(12))
        let hash = Hashing.sha256Hex(Data(secret.utf8))
        let tenant = scope.tenant
        let logger = self.logger
        let change = Change(
            actor: actor,
            action: "create",
            objectType: "admin_token",
            objectID: id,
            tenant: tenant,
            detail: [
                "name": .string(name), "role": .string(role.rawValue), "prefix": .string(prefix),
                "expires_at": expiresAt.map { .string($0.formatted(.iso8601)) } ?? .null,
            ]
        )
        let record = try await self.auditedWithoutVersion(change) { connection in
            if let tenant {
                let rows = try await connection.query("SELECT 1 FROM tenants WHERE name = \(tenant)", logger: logger)
                try await Self.requireRow(rows, else: StoreError.notFound("tenant '\(tenant)' does not exist"))
            }
            let rows = try await connection.query(
                """
                INSERT INTO admin_tokens (id, tenant, name, role, prefix, secret_hash, created_by, expires_at)
                VALUES (\(id), \(tenant), \(name), \(role.rawValue), \(prefix), \(hash), \(actor), \(expiresAt))
                RETURNING id, tenant, name, role, prefix, created_by, created_at, expires_at, revoked_at
                """,
                logger: logger
            )
            guard let record = try await Self.decodeTokens(rows).first else { throw StoreError.conflict("the token was not created") }
            return record
        }
        return (record, secret)
    }

    /// Revokes a token of `scope`. Revoking a revoked token changes nothing.
    public func revokeAdminToken(scope: AdminScope, id: String, actor: String) async throws -> AdminTokenRecord {
        guard let existing = try await self.listAdminTokens(scope: scope).first(where: { $0.id == id }) else {
            throw StoreError.notFound("admin token '\(id)' does not exist")
        }
        if existing.revokedAt != nil { return existing }
        let logger = self.logger
        let change = Change(
            actor: actor,
            action: "revoke",
            objectType: "admin_token",
            objectID: id,
            tenant: scope.tenant,
            detail: ["name": .string(existing.name), "role": .string(existing.role.rawValue), "revoked": true]
        )
        let before: JSONValue = [
            "name": .string(existing.name), "role": .string(existing.role.rawValue), "prefix": .string(existing.prefix), "revoked": false,
        ]
        return try await self.auditedWithoutVersion(change, before: before) { connection in
            let rows = try await connection.query(
                """
                UPDATE admin_tokens SET revoked_at = COALESCE(revoked_at, now()) WHERE id = \(id)
                RETURNING id, tenant, name, role, prefix, created_by, created_at, expires_at, revoked_at
                """,
                logger: logger
            )
            guard let record = try await Self.decodeTokens(rows).first else { throw StoreError.notFound("admin token '\(id)' does not exist") }
            return record
        }
    }

    /// Runs `body` in a transaction and records `change` in the audit log, without publishing a
    /// config version: for objects nodes never see (admin tokens).
    func auditedWithoutVersion<T: Sendable>(
        _ change: Change,
        before: JSONValue = .null,
        _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        let logger = self.logger
        do {
            return try await self.bounded {
                try await self.client.withTransaction(logger: logger) { connection in
                    let result = try await body(connection)
                    let detail = String(
                        decoding: JSONValue.object(["before": before, "after": change.detail.isEmpty ? .null : .object(change.detail)])
                            .serialized(sortedKeys: true),
                        as: UTF8.self
                    )
                    try await connection.query(
                        """
                        INSERT INTO audit_log (actor, action, object_type, object_id, config_version, detail, tenant)
                        SELECT \(change.actor), \(change.action), \(change.objectType), \(change.objectID), version, \(detail)::jsonb,
                               \(change.tenant) FROM config_state
                        """,
                        logger: logger
                    )
                    return result
                }
            }
        } catch let error as PostgresTransactionError {
            throw Self.unwrap(error)
        }
    }
}
