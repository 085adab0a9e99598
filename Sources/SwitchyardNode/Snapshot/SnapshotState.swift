public import Atomics
import Foundation
public import SwitchyardCore

/// A validated snapshot, indexed for serving. Immutable once built.
public final class LoadedSnapshot: AtomicReference, Sendable {
    public let version: Int
    public let manifestSHA256: String
    public let table: RoutingTable
    /// The manifest's bytes, for the disk copy.
    let manifestBytes: Data
    /// The shared shard (providers and models, a few KB): its hash and bytes, decoded again with
    /// each version. Tenant shards' bytes are not kept: 100,000 keys are 14 MB of them.
    let sharedShard: (sha256: String, data: Data)
    /// The decoded tenants by their shard's hash, so the next snapshot reuses unchanged ones.
    public let tenantsByShard: [String: TenantConfig]

    init(
        version: Int,
        manifestSHA256: String,
        table: RoutingTable,
        manifestBytes: Data,
        sharedShard: (sha256: String, data: Data),
        tenantsByShard: [String: TenantConfig] = [:]
    ) {
        self.version = version
        self.manifestSHA256 = manifestSHA256
        self.table = table
        self.manifestBytes = manifestBytes
        self.sharedShard = sharedShard
        self.tenantsByShard = tenantsByShard
    }

    /// Whether this snapshot verified and decoded the shard with this hash, so a newer version
    /// that lists it needs neither its bytes nor its check again.
    func has(shard sha256: String) -> Bool {
        self.sharedShard.sha256 == sha256 || self.tenantsByShard[sha256] != nil
    }
}

/// The snapshot the node serves. Requests read it with one atomic load; the syncer swaps in a
/// new one with one atomic store. Nobody takes a lock.
public final class SnapshotState: Sendable {
    private let current = ManagedAtomic<LoadedSnapshot?>(nil)

    public init() {}

    public var loaded: LoadedSnapshot? { self.current.load(ordering: .acquiring) }

    public func swap(_ snapshot: LoadedSnapshot) {
        self.current.store(snapshot, ordering: .releasing)
    }

    /// Swaps `snapshot` in and hands back the one it replaces, so the caller decides where its
    /// memory is freed (a large config's tables take milliseconds to tear down).
    func exchange(_ snapshot: LoadedSnapshot) -> LoadedSnapshot? {
        self.current.exchange(snapshot, ordering: .acquiringAndReleasing)
    }
}
