public import Foundation
import SwiftProtobuf
import SwitchyardCore
public import SwitchyardWire

/// A compiled snapshot: the manifest and the content-addressed shards it references.
public struct CompiledSnapshot: Sendable {
    public var version: Int
    public var manifest: Switchyard_V1_SnapshotManifest
    public var manifestBytes: Data
    public var manifestSHA256: String
    public var blobs: [String: Data]
}

/// Turns the stored config into shards. Pure apart from reading the `SnapshotSource`.
public struct SnapshotCompiler: Sendable {
    public let masterKey: MasterKey
    public let sealer: CredentialSealer

    public init(masterKey: MasterKey, sealer: CredentialSealer) {
        self.masterKey = masterKey
        self.sealer = sealer
    }

    /// Equal config compiles to equal shard bytes (sorted, deterministic sealing), on every
    /// replica and every compile, so a shard whose content did not change keeps its hash and
    /// nodes skip fetching it.
    public func compile(_ source: SnapshotSource, now: Date = Date()) throws -> CompiledSnapshot {
        var blobs: [String: Data] = [:]
        var manifest = Switchyard_V1_SnapshotManifest()
        manifest.version = UInt64(source.version)
        manifest.createdAtUnixMs = Int64(now.timeIntervalSince1970 * 1000)
        let providers = try source.providers.map { provider in
            ProviderConfig(
                name: provider.name,
                kind: provider.kind,
                baseURL: provider.baseURL,
                credentials: try self.credentials(of: provider)
            )
        }
        let shared = try SnapshotCodec.encodeShared(
            providers: providers,
            models: source.models,
            seal: { try self.sealer.seal($0, provider: $1) }
        )
        manifest.shared = Self.ref(name: "", version: source.sharedVersion, data: shared, into: &blobs)
        for tenant in source.tenants {
            let data = try SnapshotCodec.encodeTenant(tenant)
            manifest.tenants.append(Self.ref(name: tenant.name, version: tenant.version, data: data, into: &blobs))
        }
        let manifestBytes = try manifest.serializedData()
        return CompiledSnapshot(
            version: source.version,
            manifest: manifest,
            manifestBytes: manifestBytes,
            manifestSHA256: Hashing.sha256Hex(manifestBytes),
            blobs: blobs
        )
    }

    func credentials(of provider: SnapshotSource.Provider) throws -> [ProviderCredential] {
        if let sealed = provider.sealedCredentials {
            return try ProviderCredentialList.decode(try self.masterKey.open(sealed))
        }
        if let legacy = provider.legacySealedKey {
            return [ProviderCredential(name: "default", key: try self.masterKey.open(legacy), weight: 1)]
        }
        return []
    }

    static func ref(name: String, version: Int, data: Data, into blobs: inout [String: Data]) -> Switchyard_V1_ShardRef {
        let hash = Hashing.sha256Hex(data)
        blobs[hash] = data
        var ref = Switchyard_V1_ShardRef()
        ref.name = name
        ref.version = UInt64(version)
        ref.sha256 = hash
        ref.size = UInt64(data.count)
        return ref
    }
}
