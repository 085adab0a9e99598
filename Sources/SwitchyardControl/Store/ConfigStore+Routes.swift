import Foundation
import PostgresNIO
public import SwitchyardCore

// MARK: - Routes (immutable revisions)

extension ConfigStore {
    public func listRoutes(tenant: String) async throws -> [RouteRecord] {
        let rows = try await self.boundedQuery(
            """
            SELECT r.tenant, r.alias, v.revision, v.spec::text, v.comment, v.created_by, v.created_at
            FROM routes r JOIN route_revisions v ON v.tenant = r.tenant AND v.alias = r.alias AND v.revision = r.current_revision
            WHERE r.tenant = \(tenant) ORDER BY r.alias
            """,
            logger: self.logger
        )
        return try await Self.decodeRoutes(rows)
    }

    public func route(tenant: String, alias: String) async throws -> RouteRecord? {
        let rows = try await self.boundedQuery(
            """
            SELECT r.tenant, r.alias, v.revision, v.spec::text, v.comment, v.created_by, v.created_at
            FROM routes r JOIN route_revisions v ON v.tenant = r.tenant AND v.alias = r.alias AND v.revision = r.current_revision
            WHERE r.tenant = \(tenant) AND r.alias = \(alias)
            """,
            logger: self.logger
        )
        return try await Self.decodeRoutes(rows).first
    }

    public func routeRevisions(tenant: String, alias: String) async throws -> [RouteRecord] {
        let rows = try await self.boundedQuery(
            """
            SELECT tenant, alias, revision, spec::text, comment, created_by, created_at FROM route_revisions
            WHERE tenant = \(tenant) AND alias = \(alias) ORDER BY revision DESC
            """,
            logger: self.logger
        )
        return try await Self.decodeRoutes(rows)
    }

    static func decodeRoutes(_ rows: PostgresRowSequence) async throws -> [RouteRecord] {
        var result: [RouteRecord] = []
        for try await (tenant, alias, revision, spec, comment, createdBy, created) in rows.decode(
            (String, String, Int, String, String, String, Date).self
        ) {
            result.append(
                RouteRecord(
                    tenant: tenant,
                    alias: alias,
                    revision: revision,
                    spec: try RouteSpec(json: try JSONValue(parsing: spec.utf8)),
                    comment: comment,
                    createdBy: createdBy,
                    createdAt: created
                )
            )
        }
        return result
    }

    /// Writes a new revision of a route (creating the route at revision 1). When the spec equals
    /// the current revision's, nothing is written and the current revision is returned.
    public func putRoute(
        tenant: String,
        alias: String,
        spec: RouteSpec,
        comment: String,
        mustCreate: Bool,
        actor: String
    ) async throws -> (route: RouteRecord, created: Bool, version: Int?) {
        guard try await self.tenant(tenant) != nil else { throw StoreError.notFound("tenant '\(tenant)' does not exist") }
        let specText = String(decoding: spec.json.serialized(sortedKeys: true), as: UTF8.self)
        let logger = self.logger
        let record: RouteRecord
        let created: Bool
        let version: Int
        do {
            ((record, created), version) = try await self.writeDeciding(
                .init(
                    actor: actor,
                    action: "update",
                    objectType: "route",
                    objectID: "\(tenant)/\(alias)",
                    tenant: tenant,
                    detail: ["spec": spec.json, "comment": .string(comment)]
                )
            ) { connection, _ in
                // Decided under the writers' lock, so concurrent creates cannot both succeed.
                let currentRows = try await connection.query(
                    """
                    SELECT r.tenant, r.alias, v.revision, v.spec::text, v.comment, v.created_by, v.created_at
                    FROM routes r JOIN route_revisions v ON v.tenant = r.tenant AND v.alias = r.alias AND v.revision = r.current_revision
                    WHERE r.tenant = \(tenant) AND r.alias = \(alias)
                    """,
                    logger: logger
                )
                let current = try await Self.decodeRoutes(currentRows).first
                if let current {
                    if mustCreate { throw StoreError.conflict("route '\(alias)' already exists in tenant '\(tenant)'") }
                    if current.spec == spec, current.comment == comment { throw Unchanged(route: current) }
                }
                for model in Set(spec.models) {
                    let found = try await connection.query("SELECT 1 FROM models WHERE name = \(model)", logger: logger)
                    try await Self.requireRow(found, else: StoreError.notFound("model '\(model)' does not exist"))
                }
                for ref in spec.promptRefs {
                    let found: PostgresRowSequence
                    switch ref.selector {
                    case .version(let number):
                        found = try await connection.query(
                            "SELECT 1 FROM prompt_versions WHERE tenant = \(tenant) AND name = \(ref.name) AND version = \(number)",
                            logger: logger
                        )
                    case .label(let label):
                        found = try await connection.query(
                            "SELECT 1 FROM prompt_labels WHERE tenant = \(tenant) AND name = \(ref.name) AND label = \(label)",
                            logger: logger
                        )
                    }
                    try await Self.requireRow(found, else: StoreError.notFound("prompt '\(ref)' does not exist in tenant '\(tenant)'"))
                }
                try await Self.checkVariants(spec.promptUses, tenant: tenant, connection)
                let bumped = try await connection.query(
                    """
                    INSERT INTO routes (tenant, alias, current_revision) VALUES (\(tenant), \(alias), 1)
                    ON CONFLICT (tenant, alias) DO UPDATE SET current_revision = routes.current_revision + 1
                    RETURNING current_revision
                    """,
                    logger: logger
                )
                var revision = 1
                for try await value in bumped.decode(Int.self) { revision = value }
                let inserted = try await connection.query(
                    """
                    INSERT INTO route_revisions (tenant, alias, revision, spec, comment, created_by)
                    VALUES (\(tenant), \(alias), \(revision), \(specText)::jsonb, \(comment), \(actor))
                    RETURNING created_at
                    """,
                    logger: logger
                )
                var createdAt = Date()
                for try await value in inserted.decode(Date.self) { createdAt = value }
                try await connection.query("DELETE FROM route_model_refs WHERE tenant = \(tenant) AND alias = \(alias)", logger: logger)
                for model in Set(spec.models) {
                    try await connection.query(
                        "INSERT INTO route_model_refs (tenant, alias, model) VALUES (\(tenant), \(alias), \(model))",
                        logger: logger
                    )
                }
                try await connection.query("DELETE FROM route_prompt_refs WHERE tenant = \(tenant) AND alias = \(alias)", logger: logger)
                for ref in spec.promptRefs {
                    try await connection.query(
                        """
                        INSERT INTO route_prompt_refs (tenant, alias, prompt, selector)
                        VALUES (\(tenant), \(alias), \(ref.name), \(ref.selectorText))
                        """,
                        logger: logger
                    )
                }
                let record = RouteRecord(
                    tenant: tenant,
                    alias: alias,
                    revision: revision,
                    spec: spec,
                    comment: comment,
                    createdBy: actor,
                    createdAt: createdAt
                )
                return ((record, current == nil), action: current == nil ? "create" : "update")
            }
        } catch let unchanged as Unchanged {
            return (unchanged.route, false, nil)
        }
        return (record, created, version)
    }

    /// Thrown inside a route write to roll it back when it would change nothing.
    struct Unchanged: Error {
        var route: RouteRecord
    }

    public func deleteRoute(tenant: String, alias: String, actor: String) async throws -> Int {
        let logger = self.logger
        return try await self.write(
            .init(actor: actor, action: "delete", objectType: "route", objectID: "\(tenant)/\(alias)", tenant: tenant)
        ) { connection, _ in
            let rows = try await connection.query(
                "DELETE FROM routes WHERE tenant = \(tenant) AND alias = \(alias) RETURNING alias",
                logger: logger
            )
            try await Self.requireRow(rows, else: StoreError.notFound("route '\(alias)' does not exist in tenant '\(tenant)'"))
        }.1
    }
}

// MARK: - Nodes and audit

extension ConfigStore {
    /// Records that a node polled (last seen), without touching its applied state.
    public func touchNode(id: String, bootID: String) async throws {
        try await self.boundedQuery(
            """
            INSERT INTO nodes (node_id, boot_id) VALUES (\(id), \(bootID))
            ON CONFLICT (node_id) DO UPDATE SET boot_id = EXCLUDED.boot_id, last_seen_at = now()
            """,
            logger: self.logger
        )
    }

    /// Records an ACK or NACK.
    public func recordNodeStatus(
        id: String,
        bootID: String,
        acked: Bool,
        version: Int,
        appliedVersion: Int?,
        appliedHash: String?,
        reason: String?
    ) async throws {
        let status = acked ? "ack" : "nack"
        let rejected: Int? = acked ? nil : version
        try await self.boundedQuery(
            """
            INSERT INTO nodes (node_id, boot_id, applied_version, applied_hash, status, rejected_version, reason)
            VALUES (\(id), \(bootID), \(appliedVersion), \(appliedHash), \(status), \(rejected), \(reason))
            ON CONFLICT (node_id) DO UPDATE SET boot_id = EXCLUDED.boot_id, applied_version = EXCLUDED.applied_version,
                applied_hash = EXCLUDED.applied_hash, status = EXCLUDED.status,
                rejected_version = CASE WHEN EXCLUDED.status = 'nack' THEN EXCLUDED.rejected_version ELSE nodes.rejected_version END,
                reason = CASE WHEN EXCLUDED.status = 'nack' THEN EXCLUDED.reason ELSE NULL END,
                last_seen_at = now()
            """,
            logger: self.logger
        )
    }

    public func listNodes() async throws -> [NodeRecord] {
        let rows = try await self.boundedQuery(
            """
            SELECT node_id, boot_id, applied_version, applied_hash, status, rejected_version, reason, last_seen_at
            FROM nodes ORDER BY node_id
            """,
            logger: self.logger
        )
        var result: [NodeRecord] = []
        for try await (id, boot, applied, hash, status, rejected, reason, seen) in rows.decode(
            (String, String, Int?, String?, String?, Int?, String?, Date).self
        ) {
            result.append(
                NodeRecord(
                    nodeID: id,
                    bootID: boot,
                    appliedVersion: applied,
                    appliedHash: hash,
                    status: status,
                    rejectedVersion: rejected,
                    reason: reason,
                    lastSeenAt: seen
                )
            )
        }
        return result
    }

    /// Audit entries, newest first, matching every given filter; `beforeID` pages backwards.
    public func audit(_ filter: AuditFilter, limit: Int) async throws -> [AuditRecord] {
        var conditions: [String] = []
        var binds = PostgresBindings()
        func add(_ column: String, _ op: String, _ value: (some PostgresNonThrowingEncodable & Sendable)?) {
            guard let value else { return }
            binds.append(value, context: .default)
            conditions.append("\(column) \(op) $\(binds.count)")
        }
        add("tenant", "=", filter.tenant)
        add("object_type", "=", filter.objectType)
        add("object_id", "=", filter.objectID)
        add("actor", "=", filter.actor)
        add("action", "=", filter.action)
        add("at", ">=", filter.since)
        add("at", "<", filter.until)
        add("id", "<", filter.beforeID)
        binds.append(limit, context: .default)
        let sql = """
            SELECT id, at, actor, action, object_type, object_id, config_version, detail::text, tenant FROM audit_log
            \(conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND "))
            ORDER BY id DESC LIMIT $\(binds.count)
            """
        let rows = try await self.boundedQuery(PostgresQuery(unsafeSQL: sql, binds: binds), logger: self.logger)
        var result: [AuditRecord] = []
        for try await (id, at, actor, action, type, object, version, detail, tenant) in rows.decode(
            (Int, Date, String, String, String, String, Int, String, String?).self
        ) {
            result.append(
                AuditRecord(
                    id: id,
                    at: at,
                    actor: actor,
                    action: action,
                    objectType: type,
                    objectID: object,
                    configVersion: version,
                    detail: detail,
                    tenant: tenant
                )
            )
        }
        return result
    }
}
