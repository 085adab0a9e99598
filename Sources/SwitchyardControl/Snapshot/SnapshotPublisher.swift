public import Foundation
public import Logging

/// Holds the latest compiled snapshot of this replica and the nodes long-polling for a newer one.
///
/// The version watcher tells it about new config versions (LISTEN/NOTIFY plus a periodic check);
/// it compiles once per version and wakes every waiter whose `after` is older.
public actor SnapshotPublisher {
    public typealias Source = @Sendable () async throws -> SnapshotSource

    let compiler: SnapshotCompiler
    let readSource: Source
    let logger: Logger

    private var current: CompiledSnapshot?
    /// Shards of the snapshot before `current`, kept so a node still fetching them succeeds.
    private var previousBlobs: [String: Data] = [:]
    private var knownVersion = -1
    private var compiling: Task<CompiledSnapshot, any Error>?
    private var waiters: [UUID: (after: Int, continuation: CheckedContinuation<CompiledSnapshot?, Never>)] = [:]

    public init(compiler: SnapshotCompiler, logger: Logger, readSource: @escaping Source) {
        self.compiler = compiler
        self.readSource = readSource
        self.logger = logger
    }

    /// The newest version this replica knows of.
    public var latestKnownVersion: Int { self.knownVersion }

    /// A snapshot newer than `after`, at once if there is one, else when one is published or
    /// `nil` after `timeout`.
    public func snapshot(after: Int, timeout: Duration) async throws -> CompiledSnapshot? {
        if self.knownVersion > after || self.current == nil {
            let snapshot = try await self.compiled()
            if snapshot.version > after { return snapshot }
        }
        let id = UUID()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                self.waiters[id] = (after, continuation)
                Task {
                    try? await Task.sleep(for: timeout)
                    self.resume(id, with: nil)
                }
            }
        } onCancel: {
            Task { await self.resume(id, with: nil) }
        }
    }

    /// A shard of the current or previous snapshot.
    public func blob(_ sha256: String) -> Data? {
        self.current?.blobs[sha256] ?? self.previousBlobs[sha256]
    }

    /// Called when a config version is seen (notification or poll).
    public func observe(version: Int) async {
        guard version > self.knownVersion else { return }
        self.knownVersion = version
        do {
            let snapshot = try await self.compiled()
            for (id, waiter) in self.waiters where snapshot.version > waiter.after {
                self.resume(id, with: snapshot)
            }
        } catch {
            self.logger.error("snapshot compile failed", metadata: ["error": "\(String(reflecting: error))"])
        }
    }

    /// The snapshot for the newest known version, compiling it once if needed.
    private func compiled() async throws -> CompiledSnapshot {
        // Wait for a compile already in flight; it may cover the version we need.
        while let inFlight = self.compiling { _ = try? await inFlight.value }
        if let current = self.current, current.version >= self.knownVersion { return current }
        let previous = self.current
        let task = Task { [compiler, readSource] in
            try compiler.compile(try await readSource(), previous: previous)
        }
        self.compiling = task
        defer { self.compiling = nil }
        let snapshot = try await task.value
        if snapshot.version >= (self.current?.version ?? -1) {
            if snapshot.version != self.current?.version { self.previousBlobs = self.current?.blobs ?? [:] }
            self.current = snapshot
            self.knownVersion = max(self.knownVersion, snapshot.version)
            self.logger.debug("compiled snapshot", metadata: ["version": "\(snapshot.version)", "shards": "\(snapshot.blobs.count)"])
        }
        return self.current ?? snapshot
    }

    private func resume(_ id: UUID, with snapshot: CompiledSnapshot?) {
        guard let waiter = self.waiters.removeValue(forKey: id) else { return }
        waiter.continuation.resume(returning: snapshot)
    }
}
