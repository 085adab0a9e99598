public import Foundation
import SwiftProtobuf
public import SwitchyardCore
public import SwitchyardWire

/// Turns a manifest and its shards into a `LoadedSnapshot`, checking hashes, sizes, references
/// and the node's hard limits. A failure here is a NACK.
public struct SnapshotLoader: Sendable {
    let sealer: CredentialSealer
    let limits: SnapshotLimits

    public init(sealer: CredentialSealer, limits: SnapshotLimits) {
        self.sealer = sealer
        self.limits = limits
    }

    public enum LoadError: Error, CustomStringConvertible {
        /// The snapshot is unacceptable (NACK).
        case rejected(String)
        /// A shard did not arrive intact; fetch it again.
        case corrupt(String)

        public var description: String {
            switch self {
            case .rejected(let reason): reason
            case .corrupt(let reason): reason
            }
        }
    }

    /// Refs of every shard in the manifest, shared shard first.
    static func refs(_ manifest: Switchyard_V1_SnapshotManifest) -> [Switchyard_V1_ShardRef] {
        [manifest.shared] + manifest.tenants
    }

    /// Checks what can be checked before downloading anything.
    func precheck(_ manifest: Switchyard_V1_SnapshotManifest) throws(LoadError) {
        let total = Self.refs(manifest).reduce(UInt64(0)) { $0 &+ $1.size }
        if total > UInt64(self.limits.maxSnapshotBytes) {
            throw .rejected("snapshot is \(total) bytes, over the node limit of \(self.limits.maxSnapshotBytes)")
        }
        if manifest.tenants.count > self.limits.maxTenants {
            throw .rejected("\(manifest.tenants.count) tenants exceed the limit of \(self.limits.maxTenants)")
        }
    }

    /// Checks and decodes a snapshot. Shards `previous` already had were verified and decoded
    /// then: they are neither hashed nor decoded again.
    public func load(manifestBytes: Data, blobs: [String: Data], previous: LoadedSnapshot? = nil) throws(LoadError) -> LoadedSnapshot {
        let manifest: Switchyard_V1_SnapshotManifest
        do {
            manifest = try Switchyard_V1_SnapshotManifest(serializedBytes: manifestBytes)
        } catch {
            throw .corrupt("manifest does not decode")
        }
        try self.precheck(manifest)
        var used: [String: Data] = [:]
        for ref in Self.refs(manifest) {
            guard let data = blobs[ref.sha256] else { throw .corrupt("shard \(ref.sha256) is missing") }
            if previous?.blobs[ref.sha256] != data {
                guard Hashing.sha256Hex(data) == ref.sha256 else { throw .corrupt("shard \(ref.sha256) does not match its hash") }
            }
            used[ref.sha256] = data
        }
        let snapshot: ConfigSnapshot
        do {
            snapshot = try SnapshotCodec.decode(
                manifest: manifest,
                blobs: used,
                reusing: previous?.tenantsByShard ?? [:],
                unseal: { try self.sealer.unseal($0, provider: $1) }
            )
            try snapshot.validate(limits: self.limits)
        } catch {
            throw .rejected(error.reason)
        }
        var tenantsByShard: [String: TenantConfig] = [:]
        tenantsByShard.reserveCapacity(manifest.tenants.count)
        for (ref, tenant) in zip(manifest.tenants, snapshot.tenants) { tenantsByShard[ref.sha256] = tenant }
        return LoadedSnapshot(
            version: snapshot.version,
            manifestSHA256: Hashing.sha256Hex(manifestBytes),
            table: RoutingTable(snapshot),
            manifestBytes: manifestBytes,
            blobs: used,
            tenantsByShard: tenantsByShard
        )
    }
}

/// The node's copy of its last good snapshot, for starting while the control plane is down.
struct SnapshotDisk: Sendable {
    let directory: URL

    var file: URL { self.directory.appendingPathComponent("snapshot.pb") }

    func save(_ snapshot: LoadedSnapshot) throws {
        var bundle = Switchyard_V1_SnapshotBundle()
        bundle.manifest = try Switchyard_V1_SnapshotManifest(serializedBytes: snapshot.manifestBytes)
        bundle.blobs = snapshot.blobs.keys.sorted().map { hash in
            var blob = Switchyard_V1_Blob()
            blob.sha256 = hash
            blob.data = snapshot.blobs[hash]!
            return blob
        }
        try FileManager.default.createDirectory(at: self.directory, withIntermediateDirectories: true)
        // Written to a temporary file and renamed: a crash leaves the old copy or the new one, never half.
        try bundle.serializedData().write(to: self.file, options: .atomic)
    }

    /// The manifest bytes and shards on disk, if there is a copy.
    func read() throws -> (manifest: Data, blobs: [String: Data])? {
        guard FileManager.default.fileExists(atPath: self.file.path) else { return nil }
        let bundle = try Switchyard_V1_SnapshotBundle(serializedBytes: try Data(contentsOf: self.file))
        var blobs: [String: Data] = [:]
        for blob in bundle.blobs { blobs[blob.sha256] = blob.data }
        return (try bundle.manifest.serializedData(), blobs)
    }
}
