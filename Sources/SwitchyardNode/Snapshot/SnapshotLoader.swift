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
    /// then: `blobs` need not hold them, and they are neither hashed nor decoded again.
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
            if let previous, previous.has(shard: ref.sha256) {
                if ref.sha256 == previous.sharedShard.sha256 { used[ref.sha256] = previous.sharedShard.data }
                continue
            }
            guard let data = blobs[ref.sha256] else { throw .corrupt("shard \(ref.sha256) is missing") }
            guard Hashing.sha256Hex(data) == ref.sha256 else { throw .corrupt("shard \(ref.sha256) does not match its hash") }
            used[ref.sha256] = data
        }
        guard let shared = used[manifest.shared.sha256] else { throw .corrupt("shard \(manifest.shared.sha256) is missing") }
        let snapshot: ConfigSnapshot
        do {
            snapshot = try SnapshotCodec.decode(
                manifest: manifest,
                blobs: used,
                reusing: previous?.tenantsByShard ?? [:],
                unseal: { try self.sealer.unseal($0, provider: $1) }
            )
            // Tenants whose shard the previous snapshot validated, under the same providers and
            // models, are not checked again; duplicate keys are found while indexing them.
            var unchanged: Set<String> = []
            if let previous, previous.sharedShard.sha256 == manifest.shared.sha256 {
                for ref in manifest.tenants where previous.tenantsByShard[ref.sha256]?.name == ref.name { unchanged.insert(ref.name) }
            }
            try snapshot.validate(limits: self.limits, unchanged: unchanged, keyHashes: false)
        } catch {
            throw .rejected(error.reason)
        }
        let table = RoutingTable(snapshot)
        if let tenant = table.keys.duplicateKeyTenant { throw .rejected("duplicate API key hash in tenant '\(tenant)'") }
        var tenantsByShard: [String: TenantConfig] = [:]
        tenantsByShard.reserveCapacity(manifest.tenants.count)
        for (ref, tenant) in zip(manifest.tenants, snapshot.tenants) { tenantsByShard[ref.sha256] = tenant }
        return LoadedSnapshot(
            version: snapshot.version,
            manifestSHA256: Hashing.sha256Hex(manifestBytes),
            table: table,
            manifestBytes: manifestBytes,
            sharedShard: (manifest.shared.sha256, shared),
            tenantsByShard: tenantsByShard
        )
    }
}

/// The node's copy of its last good snapshot, for starting while the control plane is down:
/// `manifest.pb` and one file per shard under `shards/`, named by its SHA-256. A new version
/// writes only the shards the copy lacks, then the manifest (a temporary file renamed over the
/// old one), then removes shards no manifest lists any more, so a crash at any step leaves a
/// complete copy, old or new. Nodes before this layout kept one `snapshot.pb` bundle; it is
/// still read, and replaced on the next save.
struct SnapshotDisk: Sendable {
    let directory: URL

    var manifestFile: URL { self.directory.appendingPathComponent("manifest.pb") }
    var shardDirectory: URL { self.directory.appendingPathComponent("shards") }
    var legacyBundle: URL { self.directory.appendingPathComponent("snapshot.pb") }

    struct DiskError: Error, CustomStringConvertible {
        var description: String
    }

    /// Saves a version whose new shards are in `blobs` (shards already on disk may be absent).
    func save(manifestBytes: Data, blobs: [String: Data]) throws {
        let manifest = try Switchyard_V1_SnapshotManifest(serializedBytes: manifestBytes)
        try FileManager.default.createDirectory(at: self.shardDirectory, withIntermediateDirectories: true)
        var wanted: Set<String> = []
        for ref in SnapshotLoader.refs(manifest) {
            let file = try self.shardFile(ref.sha256)
            wanted.insert(ref.sha256)
            if FileManager.default.fileExists(atPath: file.path) { continue }
            guard let data = blobs[ref.sha256] else { throw DiskError(description: "shard \(ref.sha256) is neither on disk nor fetched") }
            try data.write(to: file, options: .atomic)
        }
        try manifestBytes.write(to: self.manifestFile, options: .atomic)
        let present = (try? FileManager.default.contentsOfDirectory(atPath: self.shardDirectory.path)) ?? []
        for name in present where !wanted.contains(name) {
            try? FileManager.default.removeItem(at: self.shardDirectory.appendingPathComponent(name))
        }
        if FileManager.default.fileExists(atPath: self.legacyBundle.path) { try? FileManager.default.removeItem(at: self.legacyBundle) }
    }

    /// The manifest bytes and shards on disk, if there is a copy; `legacy` when it came from an
    /// old `snapshot.pb` bundle (save it again to move it to the current layout).
    func read() throws -> (manifest: Data, blobs: [String: Data], legacy: Bool)? {
        if FileManager.default.fileExists(atPath: self.manifestFile.path) {
            let manifestBytes = try Data(contentsOf: self.manifestFile)
            let manifest = try Switchyard_V1_SnapshotManifest(serializedBytes: manifestBytes)
            var blobs: [String: Data] = [:]
            for ref in SnapshotLoader.refs(manifest) { blobs[ref.sha256] = try Data(contentsOf: try self.shardFile(ref.sha256)) }
            return (manifestBytes, blobs, false)
        }
        guard FileManager.default.fileExists(atPath: self.legacyBundle.path) else { return nil }
        let bundle = try Switchyard_V1_SnapshotBundle(serializedBytes: try Data(contentsOf: self.legacyBundle))
        var blobs: [String: Data] = [:]
        for blob in bundle.blobs { blobs[blob.sha256] = blob.data }
        return (try bundle.manifest.serializedData(), blobs, true)
    }

    /// A shard's file; the name must be a hex SHA-256, never a path.
    private func shardFile(_ sha256: String) throws -> URL {
        guard sha256.utf8.count == 64, sha256.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else {
            throw DiskError(description: "shard name '\(sha256.prefix(80))' is not a SHA-256")
        }
        return self.shardDirectory.appendingPathComponent(sha256)
    }
}
