import Foundation
public import Logging
public import PostgresNIO
public import SwitchyardCore
import Synchronization

/// All SQL of the control plane. Every config write runs in one transaction that bumps the
/// global config version, writes an audit row and notifies every replica (`pg_notify` is
/// delivered at commit, so listeners never see a version before its data).
public struct ConfigStore: Sendable {
    public static let notifyChannel = "switchyard_config"

    public let client: PostgresClient
    public let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// Describes a write for the audit log.
    public struct Change: Sendable {
        public var actor: String
        public var action: String
        public var objectType: String
        public var objectID: String
        /// The tenant whose shard changes, if any.
        public var tenant: String?
        /// Whether the shared shard (providers, models) changes.
        public var shared: Bool
        public var detail: [String: JSONValue]

        public init(
            actor: String,
            action: String,
            objectType: String,
            objectID: String,
            tenant: String? = nil,
            shared: Bool = false,
            detail: [String: JSONValue] = [:]
        ) {
            self.actor = actor
            self.action = action
            self.objectType = objectType
            self.objectID = objectID
            self.tenant = tenant
            self.shared = shared
            self.detail = detail
        }
    }

    /// Runs `body` in a transaction with a freshly bumped config version, then records the change.
    /// Returns the body's result and the new version.
    public func write<T: Sendable>(
        _ change: Change,
        _ body: @escaping @Sendable (PostgresConnection, Int) async throws -> T
    ) async throws -> (T, Int) {
        try await self.writeDeciding(change) { connection, version in (try await body(connection, version), nil) }
    }

    /// Like `write`, for bodies that only learn inside the transaction what they did: the body
    /// returns the audit action to record (nil keeps `change.action`). Checks made in the body are
    /// race-free: the version bump's row lock serializes every writer.
    public func writeDeciding<T: Sendable>(
        _ change: Change,
        _ body: @escaping @Sendable (PostgresConnection, Int) async throws -> (T, action: String?)
    ) async throws -> (T, Int) {
        let logger = self.logger
        do {
            return try await self.bounded {
                try await self.client.withTransaction(logger: logger) { connection in
                    // The row lock on config_state serializes writers, so versions follow commit order.
                    let rows = try await connection.query(
                        "UPDATE config_state SET version = version + 1 RETURNING version",
                        logger: logger
                    )
                    var version = 0
                    for try await value in rows.decode(Int.self) { version = value }
                    let before = try await Self.currentState(objectType: change.objectType, objectID: change.objectID, connection)
                    let (result, action) = try await body(connection, version)
                    if change.shared {
                        try await connection.query("UPDATE config_state SET shared_version = \(version)", logger: logger)
                    }
                    if let tenant = change.tenant {
                        try await connection.query(
                            "UPDATE tenants SET config_version = \(version) WHERE name = \(tenant)",
                            logger: logger
                        )
                    }
                    let after: JSONValue = change.detail.isEmpty ? .null : .object(change.detail)
                    let detail = String(decoding: JSONValue.object(["before": before, "after": after]).serialized(sortedKeys: true), as: UTF8.self)
                    let tenant = change.tenant ?? (change.objectType == "tenant" ? change.objectID : nil)
                    try await connection.query(
                        """
                        INSERT INTO audit_log (actor, action, object_type, object_id, config_version, detail, tenant)
                        VALUES (\(change.actor), \(action ?? change.action), \(change.objectType), \(change.objectID), \(version),
                                \(detail)::jsonb, \(tenant))
                        """,
                        logger: logger
                    )
                    try await connection.query("SELECT pg_notify(\(Self.notifyChannel), \(String(version)))", logger: logger)
                    return (result, version)
                }
            }
        } catch let error as PostgresTransactionError {
            throw Self.unwrap(error)
        }
    }

    /// `withTransaction` wraps the closure's error; callers want the original.
    static func unwrap(_ error: PostgresTransactionError) -> any Error {
        if let closureError = error.closureError { return Self.mapConstraint(closureError) }
        if let commitError = error.commitError { return commitError }
        return error
    }

    /// Unique and foreign-key violations are the caller's conflicts, not server errors.
    static func mapConstraint(_ error: any Error) -> any Error {
        guard let psql = error as? PSQLError, let state = psql.serverInfo?[.sqlState] else { return error }
        switch state {
        case "23505": return StoreError.conflict("an object with that name already exists")
        case "23503": return StoreError.conflict("the object is referenced by, or references, another object")
        default: return error
        }
    }

    /// The audited state of an object before a write (never a secret: providers show their
    /// credentials' names and weights), or null when it does not exist yet.
    static func currentState(objectType: String, objectID: String, _ connection: PostgresConnection) async throws -> JSONValue {
        let query: PostgresQuery
        switch objectType {
        case "tenant":
            query =
                """
                SELECT jsonb_build_object('display_name', display_name, 'labels', labels, 'policy', policy, 'rate_limits', rate_limits)::text
                FROM tenants WHERE name = \(objectID)
                """
        case "api_key":
            query = """
                SELECT jsonb_build_object('name', name, 'labels', labels, 'expires_at', expires_at, 'allowed_routes', allowed_routes,
                    'metadata', metadata, 'policy', policy, 'rate_limits', rate_limits, 'revoked_at', revoked_at)::text
                FROM api_keys WHERE id = \(objectID)
                """
        case "provider":
            query = """
                SELECT jsonb_build_object('kind', kind, 'base_url', base_url, 'credentials', credential_names)::text
                FROM providers WHERE name = \(objectID)
                """
        case "model":
            query = """
                SELECT jsonb_build_object('provider', provider, 'upstream_model', upstream_model,
                    'input_price_per_mtok', input_price_per_mtok, 'output_price_per_mtok', output_price_per_mtok,
                    'tags', tags, 'capabilities', capabilities, 'request_price_micros', request_price_micros)::text
                FROM models WHERE name = \(objectID)
                """
        case "route":
            let parts = objectID.split(separator: "/", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { return .null }
            query = """
                SELECT jsonb_build_object('revision', v.revision, 'spec', v.spec, 'comment', v.comment)::text
                FROM routes r JOIN route_revisions v ON v.tenant = r.tenant AND v.alias = r.alias AND v.revision = r.current_revision
                WHERE r.tenant = \(parts[0]) AND r.alias = \(parts[1])
                """
        case "budget":
            let parts = objectID.split(separator: "/", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { return .null }
            query = """
                SELECT jsonb_build_object('scope_kind', scope_kind, 'scope_value', scope_value, 'period', period, 'time_zone', time_zone,
                    'limit_micros', limit_micros, 'mode', mode, 'outage_policy', outage_policy,
                    'safe_allowance_micros', safe_allowance_micros)::text
                FROM budgets WHERE tenant = \(parts[0]) AND name = \(parts[1])
                """
        case "prompt":
            let parts = objectID.split(separator: "/", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { return .null }
            query = """
                SELECT jsonb_build_object('latest_version', p.latest_version, 'labels',
                    COALESCE((SELECT jsonb_object_agg(l.label, l.version) FROM prompt_labels l WHERE l.tenant = p.tenant AND l.name = p.name),
                             '{}'::jsonb))::text
                FROM prompts p WHERE p.tenant = \(parts[0]) AND p.name = \(parts[1])
                """
        default:
            return .null
        }
        for try await text in try await connection.query(query, logger: connection.logger).decode(String.self) {
            return (try? JSONValue(parsing: text.utf8)) ?? .null
        }
        return .null
    }

    /// How long a database call may wait. While the database is down the connection pool would
    /// wait for a connection indefinitely; callers get `StoreError.unavailable` instead.
    static let databaseTimeout: Duration = .seconds(10)

    /// Runs `body`, giving up after `databaseTimeout`. The answer never waits for `body` to
    /// notice its cancellation: a connection-pool lease may not (seen with the pool's connect
    /// circuit breaker tripped during an outage), and the caller must still get its 503 in time.
    func bounded<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let once = ResumeOnce<T>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                once.install(continuation)
                let work = Task {
                    do {
                        once.resume(with: .success(try await body()))
                    } catch {
                        once.resume(with: .failure(error))
                    }
                }
                let timer = Task {
                    try? await Task.sleep(for: Self.databaseTimeout)
                    once.resume(with: .failure(StoreError.unavailable("the config database did not answer within \(Self.databaseTimeout)")))
                    work.cancel()
                }
                // Whoever answered first, the other racer stops: a caller told "cancelled" or
                // "unavailable" must not see its write commit later.
                once.onFinish {
                    timer.cancel()
                    work.cancel()
                }
            }
        } onCancel: {
            once.resume(with: .failure(CancellationError()))
        }
    }

    /// `client.query`, bounded by `databaseTimeout`.
    @discardableResult
    func boundedQuery(_ query: PostgresQuery, logger: Logger) async throws -> PostgresRowSequence {
        let client = self.client
        return try await self.bounded { try await client.query(query, logger: logger) }
    }

    /// Throws `error` unless `rows` holds at least one row (a DELETE … RETURNING that hit nothing).
    static func requireRow(_ rows: PostgresRowSequence, else error: StoreError) async throws {
        for try await _ in rows { return }
        throw error
    }

    /// How many rows a tenant has in `table` (`api_keys` counts active keys only).
    public func count(_ table: TenantTable, tenant: String) async throws -> Int {
        let rows = try await self.boundedQuery(
            PostgresQuery(
                unsafeSQL: "SELECT count(*) FROM \(table.rawValue) WHERE tenant = $1\(table == .apiKeys ? " AND revoked_at IS NULL" : "")",
                binds: {
                    var binds = PostgresBindings()
                    binds.append(tenant)
                    return binds
                }()
            ),
            logger: self.logger
        )
        for try await count in rows.decode(Int.self) { return count }
        return 0
    }

    public enum TenantTable: String, Sendable {
        case apiKeys = "api_keys"
        case routes
        case prompts
    }

    public func currentVersion() async throws -> Int {
        let rows = try await self.boundedQuery("SELECT version FROM config_state", logger: self.logger)
        for try await version in rows.decode(Int.self) { return version }
        return 0
    }

    public func ping() async throws {
        try await self.boundedQuery("SELECT 1", logger: self.logger)
    }
}

// MARK: - Tenants and keys

extension ConfigStore {
    public func listTenants() async throws -> [TenantRecord] {
        let rows = try await self.boundedQuery(
            "SELECT name, display_name, labels::text, created_at, policy::text, rate_limits::text FROM tenants ORDER BY name",
            logger: self.logger
        )
        return try await Self.decodeTenants(rows)
    }

    public func tenant(_ name: String) async throws -> TenantRecord? {
        let rows = try await self.boundedQuery(
            "SELECT name, display_name, labels::text, created_at, policy::text, rate_limits::text FROM tenants WHERE name = \(name)",
            logger: self.logger
        )
        return try await Self.decodeTenants(rows).first
    }

    static func decodeTenants(_ rows: PostgresRowSequence) async throws -> [TenantRecord] {
        var result: [TenantRecord] = []
        for try await (name, display, labels, created, policy, limits) in rows.decode((String, String, String, Date, String, String).self) {
            var tenant = TenantRecord(name: name, displayName: display, labels: Self.labels(labels), policy: Self.policy(policy), createdAt: created)
            tenant.rateLimits = Self.rateLimits(limits)
            result.append(tenant)
        }
        return result
    }

    /// A stored policy (always written validated).
    static func policy(_ text: String) -> ServingPolicy {
        (try? JSONValue(parsing: text.utf8)).flatMap { try? ServingPolicy(json: $0) } ?? ServingPolicy()
    }

    /// Stored rate limits (always written validated).
    static func rateLimits(_ text: String) -> RateLimits {
        (try? JSONValue(parsing: text.utf8)).flatMap { try? RateLimits(json: $0, field: "rate_limits") } ?? RateLimits()
    }

    static func rateLimitsText(_ limits: RateLimits) -> String {
        limits.isEmpty ? "{}" : String(decoding: limits.json.serialized(sortedKeys: true), as: UTF8.self)
    }

    static func policyText(_ policy: ServingPolicy) -> String {
        String(decoding: policy.json.serialized(sortedKeys: true), as: UTF8.self)
    }

    static func labelsText(_ labels: [String: String]) -> String {
        String(decoding: JSONValue.object(labels.mapValues(JSONValue.string)).serialized(sortedKeys: true), as: UTF8.self)
    }

    public func createTenant(
        name: String,
        displayName: String,
        labels: [String: String],
        policy: ServingPolicy = ServingPolicy(),
        rateLimits: RateLimits = RateLimits(),
        actor: String
    ) async throws -> (TenantRecord, Int) {
        let logger = self.logger
        let labelsText = Self.labelsText(labels)
        let policyText = Self.policyText(policy)
        let limitsText = Self.rateLimitsText(rateLimits)
        return try await self.write(
            .init(
                actor: actor,
                action: "create",
                objectType: "tenant",
                objectID: name,
                detail: [
                    "display_name": .string(displayName), "labels": .object(labels.mapValues(JSONValue.string)), "policy": policy.json,
                    "rate_limits": rateLimits.json,
                ]
            )
        ) { connection, version in
            let rows = try await connection.query(
                """
                INSERT INTO tenants (name, display_name, labels, policy, rate_limits, config_version)
                VALUES (\(name), \(displayName), \(labelsText)::jsonb, \(policyText)::jsonb, \(limitsText)::jsonb, \(version))
                RETURNING name, display_name, labels::text, created_at, policy::text, rate_limits::text
                """,
                logger: logger
            )
            guard let tenant = try await Self.decodeTenants(rows).first else { throw StoreError.conflict("tenant '\(name)' was not created") }
            return tenant
        }
    }

    /// Changes a tenant's display name and labels (labels feed route rules, so nodes get a new
    /// tenant shard). Unchanged input writes nothing.
    public func updateTenant(
        name: String,
        displayName: String,
        labels: [String: String],
        policy: ServingPolicy = ServingPolicy(),
        rateLimits: RateLimits = RateLimits(),
        actor: String
    ) async throws -> (TenantRecord, Int?) {
        guard let existing = try await self.tenant(name) else { throw StoreError.notFound("tenant '\(name)' does not exist") }
        if existing.displayName == displayName, existing.labels == labels, existing.policy == policy, existing.rateLimits == rateLimits {
            return (existing, nil)
        }
        let logger = self.logger
        let labelsText = Self.labelsText(labels)
        let policyText = Self.policyText(policy)
        let limitsText = Self.rateLimitsText(rateLimits)
        let (record, version) = try await self.write(
            .init(
                actor: actor,
                action: "update",
                objectType: "tenant",
                objectID: name,
                tenant: name,
                detail: [
                    "display_name": .string(displayName), "labels": .object(labels.mapValues(JSONValue.string)), "policy": policy.json,
                    "rate_limits": rateLimits.json,
                ]
            )
        ) { connection, _ in
            let rows = try await connection.query(
                """
                UPDATE tenants SET display_name = \(displayName), labels = \(labelsText)::jsonb, policy = \(policyText)::jsonb,
                    rate_limits = \(limitsText)::jsonb
                WHERE name = \(name)
                RETURNING name, display_name, labels::text, created_at, policy::text, rate_limits::text
                """,
                logger: logger
            )
            guard let tenant = try await Self.decodeTenants(rows).first else { throw StoreError.notFound("tenant '\(name)' does not exist") }
            return tenant
        }
        return (record, version)
    }

    public func deleteTenant(name: String, actor: String) async throws -> Int {
        let logger = self.logger
        return try await self.write(.init(actor: actor, action: "delete", objectType: "tenant", objectID: name)) { connection, _ in
            let rows = try await connection.query("DELETE FROM tenants WHERE name = \(name) RETURNING name", logger: logger)
            try await Self.requireRow(rows, else: StoreError.notFound("tenant '\(name)' does not exist"))
            // Budget and rate-limit windows do not reference the tenant (a name reused later starts clean).
            try await connection.query("DELETE FROM budget_windows WHERE tenant = \(name)", logger: logger)
        }.1
    }

    public func listKeys(tenant: String) async throws -> [APIKeyRecord] {
        let rows = try await self.boundedQuery(
            """
            SELECT id, tenant, name, prefix, labels::text, expires_at, allowed_routes::text, metadata::text, created_at, revoked_at,
                policy::text, rate_limits::text
            FROM api_keys WHERE tenant = \(tenant) ORDER BY created_at, id
            """,
            logger: self.logger
        )
        var result: [APIKeyRecord] = []
        for try await (id, tenant, name, prefix, labels, expires, allowed, metadata, created, revoked, policy, limits) in rows.decode(
            (String, String, String, String, String, Date?, String, String, Date, Date?, String, String).self
        ) {
            result.append(
                APIKeyRecord(
                    id: id,
                    tenant: tenant,
                    name: name,
                    prefix: prefix,
                    labels: Self.labels(labels),
                    expiresAt: expires,
                    allowedRoutes: Self.strings(allowed),
                    metadata: Self.labels(metadata),
                    policy: Self.policy(policy),
                    createdAt: created,
                    revokedAt: revoked,
                    rateLimits: Self.rateLimits(limits)
                )
            )
        }
        return result
    }

    public func createKey(
        tenant: String,
        id: String,
        prefix: String,
        secretHash: String,
        settings: KeySettings,
        actor: String
    ) async throws -> (APIKeyRecord, Int) {
        let logger = self.logger
        let labelsText = Self.labelsText(settings.labels)
        let metadataText = Self.labelsText(settings.metadata)
        let policyText = Self.policyText(settings.policy)
        let limitsText = Self.rateLimitsText(settings.rateLimits)
        let allowedText = String(decoding: JSONValue.array(settings.allowedRoutes.map(JSONValue.string)).serialized(), as: UTF8.self)
        let expires = settings.expiresAt
        return try await self.write(
            .init(
                actor: actor,
                action: "create",
                objectType: "api_key",
                objectID: id,
                tenant: tenant,
                detail: [
                    "name": .string(settings.name), "prefix": .string(prefix), "labels": .object(settings.labels.mapValues(JSONValue.string)),
                    "allowed_routes": .array(settings.allowedRoutes.map(JSONValue.string)),
                    "expires_at": expires.map { .string($0.formatted(.iso8601)) } ?? .null, "policy": settings.policy.json,
                    "rate_limits": settings.rateLimits.json,
                ]
            )
        ) { connection, _ in
            let rows = try await connection.query(
                """
                INSERT INTO api_keys (id, tenant, name, prefix, secret_hash, labels, expires_at, allowed_routes, metadata, policy, rate_limits)
                VALUES (\(id), \(tenant), \(settings.name), \(prefix), \(secretHash), \(labelsText)::jsonb, \(expires),
                        \(allowedText)::jsonb, \(metadataText)::jsonb, \(policyText)::jsonb, \(limitsText)::jsonb)
                RETURNING created_at
                """,
                logger: logger
            )
            for try await created in rows.decode(Date.self) {
                return APIKeyRecord(
                    id: id,
                    tenant: tenant,
                    name: settings.name,
                    prefix: prefix,
                    labels: settings.labels,
                    expiresAt: expires,
                    allowedRoutes: settings.allowedRoutes,
                    metadata: settings.metadata,
                    policy: settings.policy,
                    createdAt: created,
                    revokedAt: nil,
                    rateLimits: settings.rateLimits
                )
            }
            throw StoreError.conflict("key was not created")
        }
    }

    /// Replaces an active key's settings (its secret and id stay). Unchanged input writes nothing.
    public func updateKey(tenant: String, id: String, settings: KeySettings, actor: String) async throws -> (APIKeyRecord, Int?) {
        guard let existing = try await self.listKeys(tenant: tenant).first(where: { $0.id == id }) else {
            throw StoreError.notFound("key '\(id)' does not exist in tenant '\(tenant)'")
        }
        guard existing.revokedAt == nil else { throw StoreError.conflict("key '\(id)' is revoked; create a new key") }
        if existing.name == settings.name, existing.labels == settings.labels, existing.expiresAt == settings.expiresAt,
            existing.allowedRoutes == settings.allowedRoutes, existing.metadata == settings.metadata, existing.policy == settings.policy,
            existing.rateLimits == settings.rateLimits
        {
            return (existing, nil)
        }
        let logger = self.logger
        let labelsText = Self.labelsText(settings.labels)
        let metadataText = Self.labelsText(settings.metadata)
        let policyText = Self.policyText(settings.policy)
        let limitsText = Self.rateLimitsText(settings.rateLimits)
        let allowedText = String(decoding: JSONValue.array(settings.allowedRoutes.map(JSONValue.string)).serialized(), as: UTF8.self)
        let expires = settings.expiresAt
        let (record, version) = try await self.write(
            .init(
                actor: actor,
                action: "update",
                objectType: "api_key",
                objectID: id,
                tenant: tenant,
                detail: [
                    "name": .string(settings.name), "labels": .object(settings.labels.mapValues(JSONValue.string)),
                    "allowed_routes": .array(settings.allowedRoutes.map(JSONValue.string)),
                    "expires_at": expires.map { .string($0.formatted(.iso8601)) } ?? .null, "policy": settings.policy.json,
                    "rate_limits": settings.rateLimits.json,
                ]
            )
        ) { connection, _ in
            let rows = try await connection.query(
                """
                UPDATE api_keys SET name = \(settings.name), labels = \(labelsText)::jsonb, expires_at = \(expires),
                    allowed_routes = \(allowedText)::jsonb, metadata = \(metadataText)::jsonb, policy = \(policyText)::jsonb,
                    rate_limits = \(limitsText)::jsonb
                WHERE tenant = \(tenant) AND id = \(id) AND revoked_at IS NULL
                RETURNING id
                """,
                logger: logger
            )
            try await Self.requireRow(rows, else: StoreError.conflict("key '\(id)' was revoked meanwhile"))
            var record = existing
            record.name = settings.name
            record.labels = settings.labels
            record.expiresAt = expires
            record.allowedRoutes = settings.allowedRoutes
            record.metadata = settings.metadata
            record.policy = settings.policy
            record.rateLimits = settings.rateLimits
            return record
        }
        return (record, version)
    }

    /// Revokes a key. Revoking a revoked key changes nothing and bumps no version.
    public func revokeKey(tenant: String, id: String, actor: String) async throws -> (APIKeyRecord, Int?) {
        guard let existing = try await self.listKeys(tenant: tenant).first(where: { $0.id == id }) else {
            throw StoreError.notFound("key '\(id)' does not exist in tenant '\(tenant)'")
        }
        if existing.revokedAt != nil { return (existing, nil) }
        let logger = self.logger
        let (record, version) = try await self.write(
            .init(actor: actor, action: "revoke", objectType: "api_key", objectID: id, tenant: tenant)
        ) { connection, _ in
            let rows = try await connection.query(
                """
                UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE tenant = \(tenant) AND id = \(id)
                RETURNING revoked_at
                """,
                logger: logger
            )
            var record = existing
            for try await revoked in rows.decode(Date.self) { record.revokedAt = revoked }
            return record
        }
        return (record, version)
    }
}

/// A continuation resumed by whichever of several racers finishes first.
final class ResumeOnce<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var early: Result<T, any Error>?
        var done = false
        var finish: (@Sendable () -> Void)?
    }

    private let state = Mutex(State())

    func install(_ continuation: CheckedContinuation<T, any Error>) {
        let early: Result<T, any Error>? = self.state.withLock { state in
            if let early = state.early { return early }
            state.continuation = continuation
            return nil
        }
        if let early { continuation.resume(with: early) }
    }

    func onFinish(_ action: @escaping @Sendable () -> Void) {
        let run = self.state.withLock { state in
            if state.done { return true }
            state.finish = action
            return false
        }
        if run { action() }
    }

    func resume(with result: Result<T, any Error>) {
        let (continuation, finish): (CheckedContinuation<T, any Error>?, (@Sendable () -> Void)?) = self.state.withLock { state in
            guard !state.done else { return (nil, nil) }
            state.done = true
            guard let continuation = state.continuation else {
                state.early = result
                return (nil, state.finish)
            }
            state.continuation = nil
            return (continuation, state.finish)
        }
        continuation?.resume(with: result)
        finish?()
    }
}
