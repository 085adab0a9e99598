public import Foundation
public import Logging

/// Holds the latest compiled snapshot of this replica and the nodes long-polling for a newer one.
///
/// The version watcher tells it about new config versions (LISTEN/NOTIFY plus a periodic check);
/// it compiles once per version and wakes every waiter whose `after` is older.
public actor SnapshotPublisher {
    public typealias Source = @Sendable () async throws -> SnapshotSource
    public typealias VersionSource = @Sendable () async throws -> Int

    let compiler: SnapshotCompiler
    let readSource: Source
    let readVersion: VersionSource
    let logger: Logger

    private var current: CompiledSnapshot?
    /// Shards of the snapshot before `current`, kept so a node still fetching them succeeds.
    private var previousBlobs: [String: Data] = [:]
    private var knownVersion = -1
    private var compiling: Task<CompiledSnapshot, any Error>?
    private var waiters: [UUID: Waiter] = [:]

    private struct Waiter {
        var after: Int
        var continuation: CheckedContinuation<CompiledSnapshot?, Never>
        var timer: Task<Void, Never>?
    }

    /// `readSource` reads the whole config at one point; `readVersion` only its version.
    public init(compiler: SnapshotCompiler, logger: Logger, readSource: @escaping Source, readVersion: @escaping VersionSource) {
        self.compiler = compiler
        self.readSource = readSource
        self.readVersion = readVersion
        self.logger = logger
    }

    /// The newest version this replica knows of.
    public var latestKnownVersion: Int { self.knownVersion }

    /// A snapshot of another version than `after`, at once if there is one, else when one is
    /// published or `nil` after `timeout`. Usually that is a newer one; an older one means the
    /// database was restored behind what the node has, and the database is the truth.
    public func snapshot(after: Int, timeout: Duration) async throws -> CompiledSnapshot? {
        // A node ahead of this replica read from a replica that heard of a write first, or the
        // database went back. Ask the database which, rather than send the node back in time.
        if after > self.knownVersion { await self.reconcile() }
        if self.knownVersion != after || self.current == nil {
            let snapshot = try await self.compiled()
            if snapshot.version != after { return snapshot }
        }
        let id = UUID()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let timer = Task {
                    try? await Task.sleep(for: timeout)
                    self.resume(id, with: nil)
                }
                self.waiters[id] = Waiter(after: after, continuation: continuation, timer: timer)
            }
        } onCancel: {
            Task { await self.resume(id, with: nil) }
        }
    }

    /// A shard of the current or previous snapshot. A node may have read its manifest from
    /// another replica that is ahead of this one: on a miss, catch up once and look again.
    public func blob(_ sha256: String) async -> Data? {
        if let data = self.current?.blobs[sha256] ?? self.previousBlobs[sha256] { return data }
        await self.reconcile()
        return self.current?.blobs[sha256] ?? self.previousBlobs[sha256]
    }

    /// Catches up with the database: publishes a newer version, and also an older one when the
    /// database was restored behind what this replica compiled (the database is the truth).
    public func reconcile() async {
        do {
            let version = try await self.readVersion()
            if version >= self.knownVersion {
                await self.observe(version: version)
                return
            }
            // A notification may have raced this read; only a second, still lower read is a restore.
            let again = try await self.readVersion()
            guard again < self.knownVersion else { return await self.observe(version: again) }
            self.logger.warning(
                "config version went backwards; republishing the database's version",
                metadata: ["database": "\(again)", "published": "\(self.knownVersion)"]
            )
            self.knownVersion = again
            self.current = nil
            try await self.publish()
        } catch {
            self.logger.error("snapshot reconcile failed", metadata: ["error": "\(String(reflecting: error))"])
        }
    }

    /// Called when a config version is seen (notification or poll).
    public func observe(version: Int) async {
        guard version > self.knownVersion else { return }
        let before = self.knownVersion
        self.knownVersion = version
        do {
            try await self.publish()
        } catch {
            // Forget the version so the next notification or check compiles it again.
            if self.current?.version ?? -1 < version { self.knownVersion = max(before, self.current?.version ?? -1) }
            self.logger.error("snapshot compile failed", metadata: ["error": "\(String(reflecting: error))"])
        }
    }

    /// Compiles the newest known version and wakes every waiter it is news to.
    private func publish() async throws {
        let snapshot = try await self.compiled()
        for (id, waiter) in self.waiters where snapshot.version != waiter.after {
            self.resume(id, with: snapshot)
        }
    }

    /// The snapshot for the newest known version, compiling it once if needed. Concurrent
    /// callers share one compile.
    private func compiled() async throws -> CompiledSnapshot {
        var compiles = 0
        while true {
            if let current = self.current, current.version >= self.knownVersion { return current }
            if let inFlight = self.compiling {
                // `install` runs before the task finishes, so state is current when this returns.
                let snapshot = try await inFlight.value
                if snapshot.version >= self.knownVersion { return snapshot }
                continue
            }
            let task = Task { [compiler, readSource] () async throws -> CompiledSnapshot in
                do {
                    let started = ContinuousClock.now
                    let source = try await readSource()
                    let read = started.duration(to: .now)
                    let snapshot = try compiler.compile(source)
                    self.install(snapshot, read: read, compile: started.duration(to: .now) - read)
                    return snapshot
                } catch {
                    self.install(nil)
                    throw error
                }
            }
            self.compiling = task
            let snapshot = try await task.value
            compiles += 1
            // A version announced while compiling is newer than what was read: compile again.
            // If the database keeps answering an older version, the announcement was bogus.
            if snapshot.version >= self.knownVersion { return snapshot }
            if compiles >= 3 { self.knownVersion = snapshot.version }
        }
    }

    private func install(_ snapshot: CompiledSnapshot?, read: Duration = .zero, compile: Duration = .zero) {
        self.compiling = nil
        guard let snapshot, snapshot.version >= (self.current?.version ?? -1) else { return }
        if snapshot.version != self.current?.version { self.previousBlobs = self.current?.blobs ?? [:] }
        self.current = snapshot
        self.knownVersion = max(self.knownVersion, snapshot.version)
        self.logger.info(
            "compiled snapshot",
            metadata: [
                "version": "\(snapshot.version)", "shards": "\(snapshot.blobs.count)",
                "bytes": "\(snapshot.blobs.values.reduce(snapshot.manifestBytes.count) { $0 + $1.count })",
                "read_ms": "\(read.components.seconds * 1000 + read.components.attoseconds / 1_000_000_000_000_000)",
                "compile_ms": "\(compile.components.seconds * 1000 + compile.components.attoseconds / 1_000_000_000_000_000)",
            ]
        )
    }

    private func resume(_ id: UUID, with snapshot: CompiledSnapshot?) {
        guard let waiter = self.waiters.removeValue(forKey: id) else { return }
        waiter.timer?.cancel()
        waiter.continuation.resume(returning: snapshot)
    }
}
