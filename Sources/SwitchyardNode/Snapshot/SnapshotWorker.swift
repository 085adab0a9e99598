import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// The thread that decodes snapshots and writes the disk copy, at a lower scheduling priority
/// than the event loops: on a node with one core, decoding a large config (hundreds of
/// milliseconds) then yields to the requests instead of stalling them. Under full load it still
/// progresses, more slowly.
enum SnapshotWorker {
    /// The nice value of the worker thread (the loops keep 0).
    static let niceness: Int32 = 10

    private static let pool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        return pool
    }()

    static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await Self.pool.runIfActive {
            #if canImport(Glibc)
            // On Linux the nice value is per thread: this lowers only the worker.
            _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, Self.niceness)
            #endif
            return try body()
        }
    }
}
