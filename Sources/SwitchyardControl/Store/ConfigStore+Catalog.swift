public import Foundation
import PostgresNIO
public import SwitchyardCore

// MARK: - Providers and models (the shared shard)

extension ConfigStore {
    static let providerColumns = "name, kind, base_url, credential_names::text, created_at, updated_at"

    public func listProviders() async throws -> [ProviderRecord] {
        let rows = try await self.boundedQuery(
            PostgresQuery(unsafeSQL: "SELECT \(Self.providerColumns) FROM providers ORDER BY name"),
            logger: self.logger
        )
        return try await Self.decodeProviders(rows)
    }

    public func provider(_ name: String) async throws -> ProviderRecord? {
        var query = PostgresQuery(unsafeSQL: "SELECT \(Self.providerColumns) FROM providers WHERE name = $1")
        query.binds.append(name, context: .default)
        return try await Self.decodeProviders(try await self.boundedQuery(query, logger: self.logger)).first
    }

    static func decodeProviders(_ rows: PostgresRowSequence) async throws -> [ProviderRecord] {
        var result: [ProviderRecord] = []
        for try await (name, kind, baseURL, namesText, created, updated) in rows.decode((String, String, String, String, Date, Date).self) {
            let names = (try? JSONValue(parsing: namesText.utf8))?.arrayValue ?? []
            result.append(
                ProviderRecord(
                    name: name,
                    kind: ProviderKind(rawValue: kind) ?? .openaiCompatible,
                    baseURL: baseURL,
                    credentials: names.map {
                        ($0["name"]?.stringValue ?? "", Int($0["weight"]?.intValue ?? 1), ProviderCredentialList.capacity($0["capacity"]))
                    },
                    createdAt: created,
                    updatedAt: updated
                )
            )
        }
        return result
    }

    /// Re-seals every stored provider credential and webhook secret with `reseal`, in one
    /// transaction (all or nothing). Returns how many providers were re-sealed. The plaintexts do not change, so
    /// snapshots keep their bytes.
    public func resealCredentials(actor: String, _ reseal: @escaping @Sendable (Data) throws -> Data) async throws -> Int {
        let logger = self.logger
        return try await self.write(
            .init(actor: actor, action: "rotate-master-key", objectType: "provider", objectID: "*", shared: true)
        ) { connection, _ in
            var rows: [(String, Data?, Data?)] = []
            for try await row in try await connection.query(
                "SELECT name, credentials_sealed, api_key_sealed FROM providers ORDER BY name FOR UPDATE",
                logger: logger
            ).decode((String, Data?, Data?).self) {
                rows.append(row)
            }
            var count = 0
            for (name, sealed, legacy) in rows where sealed != nil || legacy != nil {
                let newSealed = try sealed.map(reseal)
                let newLegacy = try legacy.map(reseal)
                try await connection.query(
                    "UPDATE providers SET credentials_sealed = \(newSealed), api_key_sealed = \(newLegacy) WHERE name = \(name)",
                    logger: logger
                )
                count += 1
            }
            // Webhook signing secrets are under the same key: the same transaction re-seals them.
            _ = try await Self.resealWebhookSecrets(on: connection, logger: logger, reseal)
            return count
        }.0
    }

    /// The provider's sealed credential list and its legacy single key (either may be nil).
    public func sealedCredentials(provider name: String) async throws -> (Data?, Data?) {
        let rows = try await self.boundedQuery(
            "SELECT credentials_sealed, api_key_sealed FROM providers WHERE name = \(name)",
            logger: self.logger
        )
        for try await (sealed, legacy) in rows.decode((Data?, Data?).self) { return (sealed, legacy) }
        return (nil, nil)
    }

    /// Creates or replaces a provider. `credentials == nil` keeps the stored ones on replace.
    /// `credentials.sealed` is the master-key box of the JSON list, `names` its secret-free
    /// summary. Returns whether it was created.
    public func upsertProvider(
        name: String,
        kind: ProviderKind,
        baseURL: String,
        credentials: (sealed: Data, names: JSONValue)?,
        mustCreate: Bool,
        actor: String
    ) async throws -> (created: Bool, version: Int) {
        let sealed = credentials?.sealed
        let namesText = credentials.map { String(decoding: $0.names.serialized(sortedKeys: true), as: UTF8.self) }
        let logger = self.logger
        let (created, version) = try await self.writeDeciding(
            .init(
                actor: actor,
                action: "create",
                objectType: "provider",
                objectID: name,
                shared: true,
                detail: [
                    "kind": .string(kind.rawValue), "base_url": .string(baseURL), "credentials_changed": .bool(credentials != nil),
                    "credentials": credentials?.names ?? .null,
                ]
            )
        ) { connection, _ in
            // Decided inside the transaction (writers are serialized): a racing POST gets 409.
            if mustCreate {
                let exists = try await connection.query("SELECT 1 FROM providers WHERE name = \(name)", logger: logger)
                for try await _ in exists { throw StoreError.conflict("provider '\(name)' already exists") }
            }
            let rows = try await connection.query(
                """
                INSERT INTO providers (name, kind, base_url, credentials_sealed, credential_names)
                VALUES (\(name), \(kind.rawValue), \(baseURL), \(sealed), COALESCE(\(namesText)::jsonb, '[]'::jsonb))
                ON CONFLICT (name) DO UPDATE SET kind = EXCLUDED.kind, base_url = EXCLUDED.base_url,
                    credentials_sealed = CASE WHEN \(sealed)::bytea IS NULL THEN providers.credentials_sealed ELSE EXCLUDED.credentials_sealed END,
                    api_key_sealed = CASE WHEN \(sealed)::bytea IS NULL THEN providers.api_key_sealed ELSE NULL END,
                    credential_names = CASE WHEN \(sealed)::bytea IS NULL THEN providers.credential_names ELSE EXCLUDED.credential_names END,
                    updated_at = now()
                RETURNING (xmax = 0)
                """,
                logger: logger
            )
            var created = false
            for try await inserted in rows.decode(Bool.self) { created = inserted }
            return (created, action: created ? "create" : "update")
        }
        return (created, version)
    }

    public func deleteProvider(name: String, actor: String) async throws -> Int {
        let logger = self.logger
        return try await self.write(.init(actor: actor, action: "delete", objectType: "provider", objectID: name, shared: true)) {
            connection,
            _ in
            let users = try await connection.query("SELECT name FROM models WHERE provider = \(name) ORDER BY name LIMIT 5", logger: logger)
            var models: [String] = []
            for try await model in users.decode(String.self) { models.append(model) }
            guard models.isEmpty else {
                throw StoreError.conflict("provider '\(name)' is used by models: \(models.joined(separator: ", "))")
            }
            let rows = try await connection.query("DELETE FROM providers WHERE name = \(name) RETURNING name", logger: logger)
            try await Self.requireRow(rows, else: StoreError.notFound("provider '\(name)' does not exist"))
        }.1
    }

    static let modelColumns =
        "name, provider, upstream_model, input_price_per_mtok, output_price_per_mtok, created_at, updated_at, tags::text, capabilities::text, "
        + "request_price_micros"

    public func listModels() async throws -> [ModelRecord] {
        let rows = try await self.boundedQuery(
            PostgresQuery(unsafeSQL: "SELECT \(Self.modelColumns) FROM models ORDER BY name"),
            logger: self.logger
        )
        return try await Self.decodeModels(rows)
    }

    public func model(_ name: String) async throws -> ModelRecord? {
        var query = PostgresQuery(unsafeSQL: "SELECT \(Self.modelColumns) FROM models WHERE name = $1")
        query.binds.append(name, context: .default)
        return try await Self.decodeModels(try await self.boundedQuery(query, logger: self.logger)).first
    }

    static func decodeModels(_ rows: PostgresRowSequence) async throws -> [ModelRecord] {
        var result: [ModelRecord] = []
        for try await (name, provider, upstream, input, output, created, updated, tags, capabilities, requestPrice) in rows.decode(
            (String, String, String, Double, Double, Date, Date, String, String, Int64).self
        ) {
            result.append(
                ModelRecord(
                    name: name,
                    provider: provider,
                    upstreamModel: upstream,
                    inputPricePerMTok: input,
                    outputPricePerMTok: output,
                    tags: Self.labels(tags),
                    capabilities: Self.strings(capabilities),
                    requestPriceMicros: requestPrice,
                    createdAt: created,
                    updatedAt: updated
                )
            )
        }
        return result
    }

    public func upsertModel(
        name: String,
        provider: String,
        upstreamModel: String,
        inputPrice: Double,
        outputPrice: Double,
        tags: [String: String] = [:],
        capabilities: [String] = [],
        requestPriceMicros: Int64 = 0,
        mustCreate: Bool,
        actor: String
    ) async throws -> (created: Bool, version: Int) {
        let logger = self.logger
        let tagsText = Self.labelsText(tags)
        let capabilitiesText = String(decoding: JSONValue.array(capabilities.map(JSONValue.string)).serialized(), as: UTF8.self)
        return try await self.writeDeciding(
            .init(
                actor: actor,
                action: "create",
                objectType: "model",
                objectID: name,
                shared: true,
                detail: [
                    "provider": .string(provider), "upstream_model": .string(upstreamModel),
                    "input_price_per_mtok": .double(inputPrice), "output_price_per_mtok": .double(outputPrice),
                    "tags": .object(tags.mapValues(JSONValue.string)), "capabilities": .array(capabilities.map(JSONValue.string)),
                    "request_price_usd": .double(BudgetConfig.usd(requestPriceMicros)),
                ]
            )
        ) { connection, _ in
            if mustCreate {
                let exists = try await connection.query("SELECT 1 FROM models WHERE name = \(name)", logger: logger)
                for try await _ in exists { throw StoreError.conflict("model '\(name)' already exists") }
            }
            let providerRows = try await connection.query("SELECT 1 FROM providers WHERE name = \(provider)", logger: logger)
            try await Self.requireRow(providerRows, else: StoreError.notFound("provider '\(provider)' does not exist"))
            let rows = try await connection.query(
                """
                INSERT INTO models (name, provider, upstream_model, input_price_per_mtok, output_price_per_mtok, tags, capabilities,
                                    request_price_micros)
                VALUES (\(name), \(provider), \(upstreamModel), \(inputPrice), \(outputPrice), \(tagsText)::jsonb,
                        \(capabilitiesText)::jsonb, \(requestPriceMicros))
                ON CONFLICT (name) DO UPDATE SET provider = EXCLUDED.provider, upstream_model = EXCLUDED.upstream_model,
                    input_price_per_mtok = EXCLUDED.input_price_per_mtok, output_price_per_mtok = EXCLUDED.output_price_per_mtok,
                    tags = EXCLUDED.tags, capabilities = EXCLUDED.capabilities, request_price_micros = EXCLUDED.request_price_micros,
                    updated_at = now()
                RETURNING (xmax = 0)
                """,
                logger: logger
            )
            var created = false
            for try await inserted in rows.decode(Bool.self) { created = inserted }
            return (created, action: created ? "create" : "update")
        }
    }

    public func deleteModel(name: String, actor: String) async throws -> Int {
        let logger = self.logger
        return try await self.write(.init(actor: actor, action: "delete", objectType: "model", objectID: name, shared: true)) {
            connection,
            _ in
            let users = try await connection.query(
                "SELECT tenant || '/' || alias FROM route_model_refs WHERE model = \(name) ORDER BY 1 LIMIT 5",
                logger: logger
            )
            var routes: [String] = []
            for try await route in users.decode(String.self) { routes.append(route) }
            guard routes.isEmpty else {
                throw StoreError.conflict("model '\(name)' is used by routes: \(routes.joined(separator: ", "))")
            }
            let rows = try await connection.query("DELETE FROM models WHERE name = \(name) RETURNING name", logger: logger)
            try await Self.requireRow(rows, else: StoreError.notFound("model '\(name)' does not exist"))
        }.1
    }
}
