public import Foundation
import PostgresNIO
public import SwitchyardCore

/// Everything a snapshot is compiled from, read at one consistent point.
public struct SnapshotSource: Sendable {
    public struct Provider: Sendable {
        public var name: String
        public var kind: ProviderKind
        public var baseURL: String
        /// The JSON credential list sealed under the master key.
        public var sealedCredentials: Data?
        /// A single key from before credential lists (schema 1), sealed under the master key.
        public var legacySealedKey: Data?

        public init(name: String, kind: ProviderKind, baseURL: String, sealedCredentials: Data? = nil, legacySealedKey: Data? = nil) {
            self.name = name
            self.kind = kind
            self.baseURL = baseURL
            self.sealedCredentials = sealedCredentials
            self.legacySealedKey = legacySealedKey
        }
    }

    public var version: Int
    public var sharedVersion: Int
    public var providers: [Provider]
    public var models: [ModelConfig]
    public var tenants: [TenantConfig]

    public init(version: Int, sharedVersion: Int, providers: [Provider], models: [ModelConfig], tenants: [TenantConfig]) {
        self.version = version
        self.sharedVersion = sharedVersion
        self.providers = providers
        self.models = models
        self.tenants = tenants
    }
}

extension ConfigStore {
    /// Reads the whole config in one repeatable-read transaction, so the version and the rows agree.
    public func readSnapshotSource() async throws -> SnapshotSource {
        let logger = self.logger
        let client = self.client
        return try await self.bounded {
            try await client.withConnection { connection in
                try await connection.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", logger: logger)
                do {
                    let source = try await Self.readSource(connection)
                    try await connection.query("COMMIT", logger: logger)
                    return source
                } catch {
                    _ = try? await connection.query("ROLLBACK", logger: logger)
                    throw error
                }
            }
        }
    }

    private static func readSource(_ connection: PostgresConnection) async throws -> SnapshotSource {
        let logger = connection.logger
        var version = 0
        var sharedVersion = 0
        for try await (v, shared) in try await connection.query("SELECT version, shared_version FROM config_state", logger: logger)
            .decode((Int, Int).self)
        {
            version = v
            sharedVersion = shared
        }
        var providers: [SnapshotSource.Provider] = []
        for try await (name, kind, baseURL, sealed, legacy) in try await connection.query(
            "SELECT name, kind, base_url, credentials_sealed, api_key_sealed FROM providers ORDER BY name",
            logger: logger
        ).decode((String, String, String, Data?, Data?).self) {
            providers.append(
                .init(
                    name: name,
                    kind: ProviderKind(rawValue: kind) ?? .openaiCompatible,
                    baseURL: baseURL,
                    sealedCredentials: sealed,
                    legacySealedKey: legacy
                )
            )
        }
        var models: [ModelConfig] = []
        for try await (name, provider, upstream, input, output, tags, capabilities, requestPrice) in try await connection.query(
            """
            SELECT name, provider, upstream_model, input_price_per_mtok, output_price_per_mtok, tags::text, capabilities::text,
                request_price_micros
            FROM models ORDER BY name
            """,
            logger: logger
        ).decode((String, String, String, Double, Double, String, String, Int64).self) {
            models.append(
                ModelConfig(
                    name: name,
                    provider: provider,
                    upstreamModel: upstream,
                    inputPricePerMTok: input,
                    outputPricePerMTok: output,
                    tags: Self.labels(tags),
                    capabilities: Set(Self.strings(capabilities)),
                    requestPriceMicros: requestPrice
                )
            )
        }
        // The whole price catalog: a node picks the row in force when it serves a request.
        var prices: [String: [ModelPrice]] = [:]
        for record in try await Self.priceRows(
            try await connection.query(
                PostgresQuery(unsafeSQL: "SELECT \(Self.priceColumns) FROM model_prices ORDER BY model, effective_at"),
                logger: logger
            )
        ) {
            prices[record.model, default: []].append(record.price)
        }
        for index in models.indices { models[index].priceVersions = prices[models[index].name] ?? [] }
        var tenants: [String: TenantConfig] = [:]
        var order: [String] = []
        for try await (name, tenantVersion, labels, policy, limits) in try await connection.query(
            "SELECT name, config_version, labels::text, policy::text, rate_limits::text FROM tenants ORDER BY name",
            logger: logger
        ).decode((String, Int, String, String, String).self) {
            var tenant = TenantConfig(
                name: name,
                version: tenantVersion,
                labels: Self.labels(labels),
                keys: [],
                routes: [],
                policy: Self.policy(policy)
            )
            tenant.rateLimits = Self.rateLimits(limits)
            tenants[name] = tenant
            order.append(name)
        }
        // Expired keys stay in the snapshot until revoked: nodes refuse them by the clock, at once,
        // without waiting for a config change at the moment of expiry.
        for try await (id, tenant, name, prefix, hash, labels, expires, allowed, policy, limits) in try await connection.query(
            """
            SELECT id, tenant, name, prefix, secret_hash, labels::text, expires_at, allowed_routes::text, policy::text, rate_limits::text
            FROM api_keys WHERE revoked_at IS NULL ORDER BY id
            """,
            logger: logger
        ).decode((String, String, String, String, String, String, Date?, String, String, String).self) {
            var key = APIKeyConfig(
                id: id,
                name: name,
                prefix: prefix,
                sha256: hash,
                labels: Self.labels(labels),
                expiresAtUnixMs: expires.map { Int64(($0.timeIntervalSince1970 * 1000).rounded()) },
                allowedRoutes: Set(Self.strings(allowed)),
                policy: Self.policy(policy)
            )
            key.rateLimits = Self.rateLimits(limits)
            tenants[tenant]?.keys.append(key)
        }
        for try await (tenant, alias, revision, specText) in try await connection.query(
            """
            SELECT r.tenant, r.alias, v.revision, v.spec::text
            FROM routes r JOIN route_revisions v ON v.tenant = r.tenant AND v.alias = r.alias AND v.revision = r.current_revision
            ORDER BY r.tenant, r.alias
            """,
            logger: logger
        ).decode((String, String, Int, String).self) {
            let spec = try RouteSpec(json: try JSONValue(parsing: specText.utf8))
            tenants[tenant]?.routes.append(RouteConfig(alias: alias, revision: revision, spec: spec))
        }
        // Canaries taking traffic: the candidate on its step's share of the default branch (a
        // candidate whose model was deleted meanwhile gets none, rather than break the snapshot).
        let modelNames = Set(models.map(\.name))
        for canary in try await Self.liveCanaries(connection, logger: logger) where modelNames.contains(canary.spec.candidate.model) {
            guard let index = tenants[canary.tenant]?.routes.firstIndex(where: { $0.alias == canary.alias }),
                let route = tenants[canary.tenant]?.routes[index],
                let spec = route.spec.withCanary(
                    canary.spec.candidate,
                    percent: canary.percent,
                    tag: CanaryTag(id: canary.id, step: canary.step, guardrails: canary.spec.guardrails)
                )
            else { continue }
            tenants[canary.tenant]?.routes[index].spec = spec
        }
        // Prompt versions and labels a node can need: only what routes reference (a pinned version,
        // or a label a route follows and the version it points at), so prompt history and unused
        // labels never grow the snapshot.
        for try await (tenant, name, label, number) in try await connection.query(
            """
            SELECT l.tenant, l.name, l.label, l.version FROM prompt_labels l
            WHERE EXISTS (SELECT 1 FROM route_prompt_refs r WHERE r.tenant = l.tenant AND r.prompt = l.name AND r.selector = l.label)
               OR EXISTS (SELECT 1 FROM canaries c WHERE c.state IN ('running', 'paused') AND c.tenant = l.tenant
                            AND c.prompt = l.name AND c.prompt_selector = l.label)
            ORDER BY l.tenant, l.name, l.label
            """,
            logger: logger
        ).decode((String, String, String, Int).self) {
            tenants[tenant]?.promptLabels[name, default: [:]][label] = number
        }
        for try await (tenant, name, number, specText) in try await connection.query(
            """
            SELECT v.tenant, v.name, v.version, v.spec::text FROM prompt_versions v
            WHERE EXISTS (SELECT 1 FROM route_prompt_refs r
                          WHERE r.tenant = v.tenant AND r.prompt = v.name AND r.selector = v.version::text)
               OR EXISTS (SELECT 1 FROM prompt_labels l JOIN route_prompt_refs r
                              ON r.tenant = l.tenant AND r.prompt = l.name AND r.selector = l.label
                          WHERE l.tenant = v.tenant AND l.name = v.name AND l.version = v.version)
               OR EXISTS (SELECT 1 FROM canaries c WHERE c.state IN ('running', 'paused') AND c.tenant = v.tenant AND c.prompt = v.name
                            AND (c.prompt_selector = v.version::text
                                 OR EXISTS (SELECT 1 FROM prompt_labels l WHERE l.tenant = c.tenant AND l.name = c.prompt
                                              AND l.label = c.prompt_selector AND l.version = v.version)))
            ORDER BY v.tenant, v.name, v.version
            """,
            logger: logger
        ).decode((String, String, Int, String).self) {
            let spec = try PromptSpec(json: try JSONValue(parsing: specText.utf8))
            tenants[tenant]?.prompts.append(PromptVersionConfig(name: name, version: number, spec: spec))
        }
        for (tenant, budget) in try await Self.decodeBudgets(
            try await connection.query(
                PostgresQuery(unsafeSQL: "SELECT \(Self.budgetColumns) FROM budgets ORDER BY tenant, name"),
                logger: logger
            )
        ) {
            tenants[tenant]?.budgets.append(budget)
        }
        return SnapshotSource(
            version: version,
            sharedVersion: sharedVersion,
            providers: providers,
            models: models,
            tenants: order.compactMap { tenants[$0] }
        )
    }
}

extension ConfigStore {
    /// A stored JSON list of strings.
    static func strings(_ text: String) -> [String] {
        ((try? JSONValue(parsing: text.utf8))?.arrayValue ?? []).compactMap(\.stringValue)
    }

    /// A stored `labels` object (always written validated), as a dictionary.
    static func labels(_ text: String) -> [String: String] {
        guard case .object(let fields) = (try? JSONValue(parsing: text.utf8)) ?? .null else { return [:] }
        return fields.compactMapValues(\.stringValue)
    }
}
