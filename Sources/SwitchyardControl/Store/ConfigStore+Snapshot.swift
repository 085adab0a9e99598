public import Foundation
import PostgresNIO
public import SwitchyardCore

/// Everything a snapshot is compiled from, read at one consistent point.
public struct SnapshotSource: Sendable {
    public struct Provider: Sendable {
        public var name: String
        public var kind: ProviderKind
        public var baseURL: String
        /// Sealed under the master key.
        public var sealedAPIKey: Data?
    }

    public var version: Int
    public var sharedVersion: Int
    public var providers: [Provider]
    public var models: [ModelConfig]
    public var tenants: [TenantConfig]
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
        for try await (name, kind, baseURL, sealed) in try await connection.query(
            "SELECT name, kind, base_url, api_key_sealed FROM providers ORDER BY name",
            logger: logger
        ).decode((String, String, String, Data?).self) {
            providers.append(.init(name: name, kind: ProviderKind(rawValue: kind) ?? .openaiCompatible, baseURL: baseURL, sealedAPIKey: sealed))
        }
        var models: [ModelConfig] = []
        for try await (name, provider, upstream, input, output) in try await connection.query(
            "SELECT name, provider, upstream_model, input_price_per_mtok, output_price_per_mtok FROM models ORDER BY name",
            logger: logger
        ).decode((String, String, String, Double, Double).self) {
            models.append(
                ModelConfig(name: name, provider: provider, upstreamModel: upstream, inputPricePerMTok: input, outputPricePerMTok: output)
            )
        }
        var tenants: [String: TenantConfig] = [:]
        var order: [String] = []
        for try await (name, tenantVersion) in try await connection.query(
            "SELECT name, config_version FROM tenants ORDER BY name",
            logger: logger
        ).decode((String, Int).self) {
            tenants[name] = TenantConfig(name: name, version: tenantVersion, keys: [], routes: [])
            order.append(name)
        }
        for try await (id, tenant, name, prefix, hash) in try await connection.query(
            "SELECT id, tenant, name, prefix, secret_hash FROM api_keys WHERE revoked_at IS NULL ORDER BY id",
            logger: logger
        ).decode((String, String, String, String, String).self) {
            tenants[tenant]?.keys.append(APIKeyConfig(id: id, name: name, prefix: prefix, sha256: hash))
        }
        let decoder = JSONDecoder()
        for try await (tenant, alias, revision, specText) in try await connection.query(
            """
            SELECT r.tenant, r.alias, v.revision, v.spec::text
            FROM routes r JOIN route_revisions v ON v.tenant = r.tenant AND v.alias = r.alias AND v.revision = r.current_revision
            ORDER BY r.tenant, r.alias
            """,
            logger: logger
        ).decode((String, String, Int, String).self) {
            let spec = try decoder.decode(RouteSpec.self, from: Data(specText.utf8))
            tenants[tenant]?.routes.append(
                RouteConfig(
                    alias: alias,
                    revision: revision,
                    defaultTarget: spec.defaultTarget,
                    fallbacks: spec.fallbacks,
                    timeouts: spec.timeouts
                )
            )
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
