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

    /// Drops `replaced` (the snapshot a swap replaced) on the worker, then hands the heap's free
    /// pages back to the kernel (glibc's `malloc_trim`). Decoding a large snapshot leaves tens of
    /// MB of freed buffers in the allocator's arenas, and the old snapshot's memory is free once
    /// it is gone; without the trim they stay in the node's resident set until the allocator
    /// happens to reuse them.
    static func release(_ replaced: consuming LoadedSnapshot?) async {
        let box = ReleaseBox(consume replaced)
        _ = try? await Self.pool.runIfActive {
            box.drop()
            #if canImport(Glibc)
            _ = Self.mallocTrim?(0)
            #endif
        }
    }

    /// Carries the last reference to the worker thread.
    private final class ReleaseBox: @unchecked Sendable {
        // Only touched by `drop`, once, on the worker (and by the initializer before that).
        private var snapshot: LoadedSnapshot?

        init(_ snapshot: LoadedSnapshot?) { self.snapshot = snapshot }

        func drop() { self.snapshot = nil }
    }

    #if canImport(Glibc)
    /// Not exported by Swift's Glibc module; looked up once.
    private static let mallocTrim: (@convention(c) (Int) -> Int32)? = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim").map {
        unsafeBitCast($0, to: (@convention(c) (Int) -> Int32).self)
    }
    #endif
}
