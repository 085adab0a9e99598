public import Atomics
import Foundation
public import SwitchyardCore

/// A validated snapshot, indexed for serving. Immutable once built.
public final class LoadedSnapshot: AtomicReference, Sendable {
    public let version: Int
    public let manifestSHA256: String
    public let table: RoutingTable
    /// The manifest and shard bytes, kept to skip unchanged shards and to write the disk copy.
    let manifestBytes: Data
    let blobs: [String: Data]
    /// The decoded tenants by their shard's hash, so the next snapshot reuses unchanged ones.
    let tenantsByShard: [String: TenantConfig]

    init(
        version: Int,
        manifestSHA256: String,
        table: RoutingTable,
        manifestBytes: Data,
        blobs: [String: Data],
        tenantsByShard: [String: TenantConfig] = [:]
    ) {
        self.version = version
        self.manifestSHA256 = manifestSHA256
        self.table = table
        self.manifestBytes = manifestBytes
        self.blobs = blobs
        self.tenantsByShard = tenantsByShard
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
}
