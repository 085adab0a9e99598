import Foundation
import SwitchyardControl
import SwitchyardCore
import SwitchyardNode
import SwitchyardWire
import Testing

/// A node decodes only the tenant shards that changed; the result equals a full decode.
@Suite struct SnapshotReuseTests {
    static let models = [ModelConfig(name: "small", provider: "local", upstreamModel: "small", inputPricePerMTok: 1, outputPricePerMTok: 2)]
    static let spec = try! RouteSpec(json: ["default": ["model": "small"]])

    static func tenant(_ name: String, version: Int, routes: [String]) -> TenantConfig {
        let secret = "sk-sy-\(name.prefix(8).padding(toLength: 8, withPad: "x", startingAt: 0))-" + String(repeating: "a", count: 32)
        let key = APIKeyConfig(id: "key-\(name)", name: "k", prefix: String(secret.prefix(14)), sha256: Hashing.sha256Hex(Data(secret.utf8)))
        return TenantConfig(name: name, version: version, keys: [key], routes: routes.map { RouteConfig(alias: $0, revision: 1, spec: Self.spec) })
    }

    static func compile(version: Int, tenants: [TenantConfig]) throws -> CompiledSnapshot {
        let compiler = SnapshotCompiler(masterKey: try MasterKey(base64: MasterKey.generateBase64()), sealer: CredentialSealer(nodeToken: "t"))
        let source = SnapshotSource(
            version: version,
            sharedVersion: 1,
            providers: [.init(name: "local", kind: .openaiCompatible, baseURL: "http://127.0.0.1:1/v1")],
            models: Self.models,
            tenants: tenants
        )
        return try compiler.compile(source)
    }

    @Test func unchangedTenantsAreReusedAndTheResultEqualsAFullDecode() throws {
        let loader = SnapshotLoader(sealer: CredentialSealer(nodeToken: "t"), limits: SnapshotLimits())
        let first = try Self.compile(
            version: 1,
            tenants: [Self.tenant("alpha", version: 1, routes: ["a"]), Self.tenant("beta", version: 1, routes: ["b"])]
        )
        let loaded = try loader.load(manifestBytes: first.manifestBytes, blobs: first.blobs)
        let second = try Self.compile(
            version: 2,
            tenants: [Self.tenant("alpha", version: 1, routes: ["a"]), Self.tenant("beta", version: 2, routes: ["b", "b2"])]
        )
        let incremental = try loader.load(manifestBytes: second.manifestBytes, blobs: second.blobs, previous: loaded)
        let full = try loader.load(manifestBytes: second.manifestBytes, blobs: second.blobs)
        #expect(incremental.version == 2)
        #expect(incremental.table.tenants["beta"]?.aliases == ["b", "b2"])
        #expect(incremental.table.tenants["alpha"]?.aliases == ["a"])
        for name in ["alpha", "beta"] {
            #expect(incremental.table.tenants[name]?.aliases == full.table.tenants[name]?.aliases)
            #expect(incremental.table.tenants[name]?.routes == full.table.tenants[name]?.routes)
        }
        #expect(Set(incremental.table.keysByHash.keys) == Set(full.table.keysByHash.keys))

        // A changed shard is still checked against its hash.
        let changed = try #require(second.manifest.tenants.first { $0.name == "beta" }?.sha256)
        var corrupt = second.blobs
        corrupt[changed] = Data("not the shard".utf8)
        #expect(throws: SnapshotLoader.LoadError.self) {
            _ = try loader.load(manifestBytes: second.manifestBytes, blobs: corrupt, previous: loaded)
        }
    }
}
