import Foundation
import SwiftProtobuf
import SwitchyardControl
import SwitchyardCore
import SwitchyardWire
import Testing

@testable import SwitchyardNode

/// A node decodes only the tenant shards that changed; the result equals a full decode.
@Suite struct SnapshotReuseTests {
    static let models = [ModelConfig(name: "small", provider: "local", upstreamModel: "small", inputPricePerMTok: 1, outputPricePerMTok: 2)]
    static let spec = try! RouteSpec(json: ["default": ["model": "small"]])

    static func tenant(_ name: String, version: Int, routes: [String]) -> TenantConfig {
        let secret = "sk-sy-\(name.prefix(8).padding(toLength: 8, withPad: "x", startingAt: 0))-" + String(repeating: "a", count: 32)
        let key = APIKeyConfig(id: "key-\(name)", name: "k", prefix: String(secret.prefix(14)), sha256: Hashing.sha256Hex(Data(secret.utf8)))
        return TenantConfig(name: name, version: version, keys: [key], routes: routes.map { RouteConfig(alias: $0, revision: 1, spec: Self.spec) })
    }

    static func compile(version: Int, tenants: [TenantConfig], models: [ModelConfig] = Self.models) throws -> CompiledSnapshot {
        let compiler = SnapshotCompiler(masterKey: try MasterKey(base64: MasterKey.generateBase64()), sealer: CredentialSealer(nodeToken: "t"))
        let source = SnapshotSource(
            version: version,
            sharedVersion: 1,
            providers: [.init(name: "local", kind: .openaiCompatible, baseURL: "http://127.0.0.1:1/v1")],
            models: models,
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
        #expect(Set(incremental.table.keys.entries.map(\.key.sha256)) == Set(full.table.keys.entries.map(\.key.sha256)))
        #expect(incremental.table.keys.count == full.table.keys.count)

        // A changed shard is still checked against its hash.
        let changed = try #require(second.manifest.tenants.first { $0.name == "beta" }?.sha256)
        // The node fetches only the shards it lacks: the changed one is all the next load needs.
        let fetchedOnly = try loader.load(manifestBytes: second.manifestBytes, blobs: [changed: second.blobs[changed]!], previous: loaded)
        #expect(Set(fetchedOnly.table.keys.entries.map(\.key.id)) == ["key-alpha", "key-beta"])
        #expect(fetchedOnly.table.tenants["beta"]?.aliases == ["b", "b2"])
        #expect(throws: SnapshotLoader.LoadError.self) {
            _ = try loader.load(manifestBytes: second.manifestBytes, blobs: [:], previous: loaded)
        }
        var corrupt = second.blobs
        corrupt[changed] = Data("not the shard".utf8)
        #expect(throws: SnapshotLoader.LoadError.self) {
            _ = try loader.load(manifestBytes: second.manifestBytes, blobs: corrupt, previous: loaded)
        }
    }

    /// Unchanged tenants are not validated again, but a changed tenant is still checked against
    /// them (a key another tenant already has), and all are checked again when the shared
    /// providers and models change.
    @Test func incrementalLoadsStillRejectWhatAFullLoadRejects() throws {
        let loader = SnapshotLoader(sealer: CredentialSealer(nodeToken: "t"), limits: SnapshotLimits())
        let alpha = Self.tenant("alpha", version: 1, routes: ["a"])
        let first = try Self.compile(version: 1, tenants: [alpha, Self.tenant("beta", version: 1, routes: ["b"])])
        let loaded = try loader.load(manifestBytes: first.manifestBytes, blobs: first.blobs)

        var thief = Self.tenant("beta", version: 2, routes: ["b"])
        thief.keys[0].sha256 = alpha.keys[0].sha256
        let second = try Self.compile(version: 2, tenants: [alpha, thief])
        for previous in [loaded, nil] {
            let error = #expect(throws: SnapshotLoader.LoadError.self) {
                _ = try loader.load(manifestBytes: second.manifestBytes, blobs: second.blobs, previous: previous)
            }
            #expect(error?.description == "duplicate API key hash in tenant 'beta'")
        }

        // The model alpha's unchanged route names is gone from the shared shard.
        let other = [ModelConfig(name: "other", provider: "local", upstreamModel: "other", inputPricePerMTok: 1, outputPricePerMTok: 2)]
        let third = try Self.compile(version: 3, tenants: [alpha, Self.tenant("beta", version: 1, routes: ["b"])], models: other)
        let error = #expect(throws: SnapshotLoader.LoadError.self) {
            _ = try loader.load(manifestBytes: third.manifestBytes, blobs: third.blobs, previous: loaded)
        }
        #expect(error?.description.contains("references unknown model 'small'") == true, "\(String(describing: error))")
    }

    /// The disk copy: shards by hash plus a manifest; a version writes only what it fetched, drops
    /// shards nothing lists, never half-writes, and an old single-file copy still loads.
    @Test func diskCopyHoldsTheCurrentShardsAndSurvivesAFailedSave() throws {
        let loader = SnapshotLoader(sealer: CredentialSealer(nodeToken: "t"), limits: SnapshotLimits())
        let directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("switchyard-disk-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let disk = SnapshotDisk(directory: directory)
        #expect(try disk.read() == nil)
        let first = try Self.compile(
            version: 1,
            tenants: [Self.tenant("alpha", version: 1, routes: ["a"]), Self.tenant("beta", version: 1, routes: ["b"])]
        )
        try disk.save(manifestBytes: first.manifestBytes, blobs: first.blobs)
        let second = try Self.compile(
            version: 2,
            tenants: [Self.tenant("alpha", version: 1, routes: ["a"]), Self.tenant("beta", version: 2, routes: ["b", "b2"])]
        )
        let changed = try #require(second.manifest.tenants.first { $0.name == "beta" }?.sha256)
        try disk.save(manifestBytes: second.manifestBytes, blobs: [changed: second.blobs[changed]!])
        let shardFiles = { Set(try FileManager.default.contentsOfDirectory(atPath: disk.shardDirectory.path)) }
        #expect(try shardFiles() == Set(second.blobs.keys))
        let read = try #require(try disk.read())
        #expect(read.manifest == second.manifestBytes)
        #expect(read.blobs == second.blobs)
        #expect(!read.legacy)
        #expect(try loader.load(manifestBytes: read.manifest, blobs: read.blobs).version == 2)

        // A version whose new shard is neither fetched nor on disk is not saved: the copy stays at 2.
        let third = try Self.compile(version: 3, tenants: [Self.tenant("gamma", version: 1, routes: ["g"])])
        #expect(throws: SnapshotDisk.DiskError.self) { try disk.save(manifestBytes: third.manifestBytes, blobs: [:]) }
        #expect(try disk.read()?.manifest == second.manifestBytes)
        #expect(try shardFiles().isSuperset(of: Set(second.blobs.keys)))

        // A copy written by an older node (one bundle file) loads, and the next save replaces it.
        let legacyDirectory = directory.appendingPathComponent("legacy")
        try FileManager.default.createDirectory(at: legacyDirectory, withIntermediateDirectories: true)
        var bundle = Switchyard_V1_SnapshotBundle()
        bundle.manifest = second.manifest
        bundle.blobs = second.blobs.map { hash, data in
            var blob = Switchyard_V1_Blob()
            blob.sha256 = hash
            blob.data = data
            return blob
        }
        let legacy = SnapshotDisk(directory: legacyDirectory)
        try bundle.serializedData().write(to: legacy.legacyBundle)
        let old = try #require(try legacy.read())
        #expect(old.legacy)
        #expect(try loader.load(manifestBytes: old.manifest, blobs: old.blobs).version == 2)
        try legacy.save(manifestBytes: old.manifest, blobs: old.blobs)
        #expect(!FileManager.default.fileExists(atPath: legacy.legacyBundle.path))
        #expect(try legacy.read()?.legacy == false)
    }
}
