import Foundation
import NIOCore
import NIOPosix

/// Runs Swift concurrency on the NIO event loops, with one loop per CPU the process may use.
///
/// A proxied request crosses the HTTP server (NIO), the handler (a Swift task) and the upstream
/// client (NIO) several times. With Swift's own thread pool next to NIO's loops, every crossing is
/// a thread hop; on a node pinned to one core those hops were most of a request's cost (see
/// docs/benchmarks.md). With the loops as the global executor a request stays on one thread.
///
/// Call first thing in `main`, before any task runs. `NIO_SINGLETON_GROUP_LOOP_COUNT` still wins.
public func useEventLoopsForConcurrency() {
    if ProcessInfo.processInfo.environment["NIO_SINGLETON_GROUP_LOOP_COUNT"] == nil, let cpus = allowedCPUCount() {
        NIOSingletons.groupLoopCountSuggestion = cpus
    }
    NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
}

/// The CPUs this process may run on (`taskset`, cpusets), from `Cpus_allowed_list` in
/// `/proc/self/status` (e.g. `0-3,6`).
func allowedCPUCount() -> Int? {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed_list:") })
    else { return nil }
    var count = 0
    for part in line.dropFirst("Cpus_allowed_list:".count).split(separator: ",") {
        let bounds = part.trimmingCharacters(in: .whitespaces).split(separator: "-").compactMap { Int($0) }
        guard let first = bounds.first, let last = bounds.last, last >= first else { return nil }
        count += last - first + 1
    }
    return count > 0 ? count : nil
}
