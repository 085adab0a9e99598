public import Foundation
import PostgresNIO
public import SwitchyardCore

/// A tenant's prompt: its newest version and where its labels point.
public struct PromptRecord: Sendable, Hashable {
    public var tenant: String
    public var name: String
    public var latestVersion: Int
    /// Label → version.
    public var labels: [String: Int]
    public var createdAt: Date
}

/// One immutable prompt version.
public struct PromptVersionRecord: Sendable, Hashable {
    public var tenant: String
    public var name: String
    public var version: Int
    public var spec: PromptSpec
    public var comment: String
    public var createdBy: String
    public var createdAt: Date
}

extension ConfigStore {
    public func listPrompts(tenant: String) async throws -> [PromptRecord] {
        try await self.prompts(tenant: tenant, name: nil)
    }

    public func prompt(tenant: String, name: String) async throws -> PromptRecord? {
        try await self.prompts(tenant: tenant, name: name).first
    }

    func prompts(tenant: String, name: String?) async throws -> [PromptRecord] {
        let rows = try await self.boundedQuery(
            """
            SELECT p.name, p.latest_version, p.created_at,
                COALESCE((SELECT jsonb_object_agg(l.label, l.version) FROM prompt_labels l WHERE l.tenant = p.tenant AND l.name = p.name),
                         '{}'::jsonb)::text
            FROM prompts p WHERE p.tenant = \(tenant) AND (\(name)::text IS NULL OR p.name = \(name))
            ORDER BY p.name
            """,
            logger: self.logger
        )
        var result: [PromptRecord] = []
        for try await (name, latest, created, labels) in rows.decode((String, Int, Date, String).self) {
            let parsed = ((try? JSONValue(parsing: labels.utf8))?.objectValue ?? [:]).compactMapValues { $0.intValue.map(Int.init) }
            result.append(PromptRecord(tenant: tenant, name: name, latestVersion: latest, labels: parsed, createdAt: created))
        }
        return result
    }

    /// A prompt's versions, newest first: `version` picks one; `before` and `limit` page.
    public func promptVersions(
        tenant: String,
        name: String,
        version: Int? = nil,
        before: Int? = nil,
        limit: Int = 1_000
    ) async throws -> [PromptVersionRecord] {
        let rows = try await self.boundedQuery(
            """
            SELECT version, spec::text, comment, created_by, created_at FROM prompt_versions
            WHERE tenant = \(tenant) AND name = \(name) AND (\(version)::integer IS NULL OR version = \(version))
                AND (\(before)::integer IS NULL OR version < \(before))
            ORDER BY version DESC LIMIT \(limit)
            """,
            logger: self.logger
        )
        var result: [PromptVersionRecord] = []
        for try await (number, specText, comment, createdBy, created) in rows.decode((Int, String, String, String, Date).self) {
            let spec = try PromptSpec(json: try JSONValue(parsing: specText.utf8))
            result.append(
                PromptVersionRecord(
                    tenant: tenant,
                    name: name,
                    version: number,
                    spec: spec,
                    comment: comment,
                    createdBy: createdBy,
                    createdAt: created
                )
            )
        }
        return result
    }

    /// Adds a version (creating the prompt at version 1). A spec equal to the newest version's
    /// writes nothing and returns that version, so `apply` stays idempotent.
    public func createPromptVersion(
        tenant: String,
        name: String,
        spec: PromptSpec,
        comment: String,
        actor: String
    ) async throws -> (record: PromptVersionRecord, created: Bool, version: Int?) {
        guard try await self.tenant(tenant) != nil else { throw StoreError.notFound("tenant '\(tenant)' does not exist") }
        if let latest = try await self.promptVersions(tenant: tenant, name: name, limit: 1).first, latest.spec == spec, latest.comment == comment {
            return (latest, false, nil)
        }
        let specText = String(decoding: spec.json.serialized(sortedKeys: true), as: UTF8.self)
        let logger = self.logger
        let (record, version) = try await self.write(
            .init(
                actor: actor,
                action: "create_version",
                objectType: "prompt",
                objectID: "\(tenant)/\(name)",
                tenant: tenant,
                detail: ["spec": spec.json, "comment": .string(comment)]
            )
        ) { connection, _ in
            let bumped = try await connection.query(
                """
                INSERT INTO prompts (tenant, name, latest_version) VALUES (\(tenant), \(name), 1)
                ON CONFLICT (tenant, name) DO UPDATE SET latest_version = prompts.latest_version + 1
                RETURNING latest_version
                """,
                logger: logger
            )
            var number = 1
            for try await value in bumped.decode(Int.self) { number = value }
            let rows = try await connection.query(
                """
                INSERT INTO prompt_versions (tenant, name, version, spec, comment, created_by)
                VALUES (\(tenant), \(name), \(number), \(specText)::jsonb, \(comment), \(actor))
                RETURNING created_at
                """,
                logger: logger
            )
            var created = Date()
            for try await value in rows.decode(Date.self) { created = value }
            return PromptVersionRecord(
                tenant: tenant,
                name: name,
                version: number,
                spec: spec,
                comment: comment,
                createdBy: actor,
                createdAt: created
            )
        }
        return (record, true, version)
    }

    /// Points `label` at `version`. Every route following the label serves the new version once
    /// nodes have the config version this returns (nil when the label already pointed there).
    public func setPromptLabel(tenant: String, name: String, label: String, version: Int, actor: String) async throws -> Int? {
        guard let prompt = try await self.prompt(tenant: tenant, name: name) else {
            throw StoreError.notFound("prompt '\(name)' does not exist in tenant '\(tenant)'")
        }
        if prompt.labels[label] == version { return nil }
        let logger = self.logger
        return try await self.write(
            .init(
                actor: actor,
                action: "move_label",
                objectType: "prompt",
                objectID: "\(tenant)/\(name)",
                tenant: tenant,
                detail: ["label": .string(label), "version": .int(Int64(version))]
            )
        ) { connection, _ in
            let found = try await connection.query(
                "SELECT 1 FROM prompt_versions WHERE tenant = \(tenant) AND name = \(name) AND version = \(version)",
                logger: logger
            )
            try await Self.requireRow(found, else: StoreError.notFound("version \(version) of prompt '\(name)' does not exist"))
            // Every route following the label must still find a variant for each of its models.
            let target = try await Self.resolve(PromptRef(name: name, selector: .version(version)), tenant: tenant, connection)
            let routes = try await connection.query(
                """
                SELECT r.alias, v.spec::text FROM route_prompt_refs p
                JOIN routes r ON r.tenant = p.tenant AND r.alias = p.alias
                JOIN route_revisions v ON v.tenant = r.tenant AND v.alias = r.alias AND v.revision = r.current_revision
                WHERE p.tenant = \(tenant) AND p.prompt = \(name) AND p.selector = \(label)
                ORDER BY r.alias
                """,
                logger: logger
            )
            let followed = PromptRef(name: name, selector: .label(label))
            for try await (alias, specText) in routes.decode((String, String).self) {
                let route = try RouteSpec(json: try JSONValue(parsing: specText.utf8))
                for use in route.promptUses where use.prompt == followed && target?.spec.variant(forModel: use.model) == nil {
                    throw StoreError.conflict(
                        "version \(version) of prompt '\(name)' has no variant for model '\(use.model)', which route '\(alias)' (\(use.field)) renders it for"
                    )
                }
            }
            try await connection.query(
                """
                INSERT INTO prompt_labels (tenant, name, label, version, updated_by) VALUES (\(tenant), \(name), \(label), \(version), \(actor))
                ON CONFLICT (tenant, name, label) DO UPDATE SET version = EXCLUDED.version, updated_by = EXCLUDED.updated_by,
                    updated_at = now()
                """,
                logger: logger
            )
        }.1
    }

    /// Removes a label no route follows.
    public func deletePromptLabel(tenant: String, name: String, label: String, actor: String) async throws -> Int {
        let logger = self.logger
        return try await self.write(
            .init(
                actor: actor,
                action: "delete_label",
                objectType: "prompt",
                objectID: "\(tenant)/\(name)",
                tenant: tenant,
                detail: ["label": .string(label)]
            )
        ) { connection, _ in
            try await Self.refuseIfReferenced(tenant: tenant, prompt: name, selector: label, connection)
            let rows = try await connection.query(
                "DELETE FROM prompt_labels WHERE tenant = \(tenant) AND name = \(name) AND label = \(label) RETURNING label",
                logger: logger
            )
            try await Self.requireRow(rows, else: StoreError.notFound("prompt '\(name)' has no label '\(label)'"))
        }.1
    }

    /// Deletes a prompt with all its versions and labels, unless a route uses it.
    public func deletePrompt(tenant: String, name: String, actor: String) async throws -> Int {
        let logger = self.logger
        return try await self.write(
            .init(actor: actor, action: "delete", objectType: "prompt", objectID: "\(tenant)/\(name)", tenant: tenant)
        ) { connection, _ in
            try await Self.refuseIfReferenced(tenant: tenant, prompt: name, selector: nil, connection)
            let rows = try await connection.query(
                "DELETE FROM prompts WHERE tenant = \(tenant) AND name = \(name) RETURNING name",
                logger: logger
            )
            try await Self.requireRow(rows, else: StoreError.notFound("prompt '\(name)' does not exist in tenant '\(tenant)'"))
        }.1
    }

    /// Refuses a route whose targets would render a prompt version without a variant for their
    /// model (the node would skip them), naming the target's field.
    static func checkVariants(
        _ uses: [(field: String, model: String, prompt: PromptRef)],
        tenant: String,
        _ connection: PostgresConnection
    ) async throws {
        var specs: [PromptRef: (version: Int, spec: PromptSpec)] = [:]
        for use in uses {
            if specs[use.prompt] == nil {
                guard let resolved = try await Self.resolve(use.prompt, tenant: tenant, connection) else { continue }
                specs[use.prompt] = resolved
            }
            guard let (version, spec) = specs[use.prompt], spec.variant(forModel: use.model) == nil else { continue }
            throw FieldError(
                use.field,
                "prompt '\(use.prompt.name)@\(version)' has no variant for model '\(use.model)'; add a variant for it (or one without 'models'), or give this target its own prompt"
            )
        }
    }

    /// The version and spec a reference names, read in `connection`'s transaction.
    static func resolve(_ ref: PromptRef, tenant: String, _ connection: PostgresConnection) async throws -> (version: Int, spec: PromptSpec)? {
        let rows: PostgresRowSequence
        switch ref.selector {
        case .version(let number):
            rows = try await connection.query(
                "SELECT version, spec::text FROM prompt_versions WHERE tenant = \(tenant) AND name = \(ref.name) AND version = \(number)",
                logger: connection.logger
            )
        case .label(let label):
            rows = try await connection.query(
                """
                SELECT v.version, v.spec::text FROM prompt_labels l
                JOIN prompt_versions v ON v.tenant = l.tenant AND v.name = l.name AND v.version = l.version
                WHERE l.tenant = \(tenant) AND l.name = \(ref.name) AND l.label = \(label)
                """,
                logger: connection.logger
            )
        }
        for try await (version, text) in rows.decode((Int, String).self) {
            return (version, try PromptSpec(json: try JSONValue(parsing: text.utf8)))
        }
        return nil
    }

    static func refuseIfReferenced(tenant: String, prompt: String, selector: String?, _ connection: PostgresConnection) async throws {
        let rows = try await connection.query(
            """
            SELECT alias FROM route_prompt_refs
            WHERE tenant = \(tenant) AND prompt = \(prompt) AND (\(selector)::text IS NULL OR selector = \(selector))
            ORDER BY alias LIMIT 5
            """,
            logger: connection.logger
        )
        var aliases: [String] = []
        for try await alias in rows.decode(String.self) { aliases.append(alias) }
        guard aliases.isEmpty else {
            let what = selector.map { "label '\($0)' of prompt '\(prompt)'" } ?? "prompt '\(prompt)'"
            throw StoreError.conflict("\(what) is used by routes: \(aliases.joined(separator: ", "))")
        }
    }
}
