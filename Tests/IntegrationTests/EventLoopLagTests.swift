import Foundation
import NIOCore
import NIOPosix
import Prometheus
import Testing

@testable import SwitchyardNode

@Suite struct EventLoopLagTests {
    /// A loop held for 40 ms shows as one late timer of at least 25 ms; an idle loop's timers are
    /// on time (within 25 ms even on a loaded machine).
    @Test func aStalledLoopShowsAsLag() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let registry = PrometheusCollectorRegistry()
        let probe = EventLoopLagProbe(group: group, registry: registry, interval: .milliseconds(5))
        let running = Task { try await probe.run() }
        // The probe's first samples (a loaded test machine may start the task late).
        var before = Self.counts(registry)
        let started = ContinuousClock.now
        while before.total < 5, started.duration(to: .now) < .seconds(20) {
            try await Task.sleep(for: .milliseconds(20))
            before = Self.counts(registry)
        }
        #expect(before.total > 0)
        _ = try await group.next().submit { usleep(40_000) }.get()
        var after = Self.counts(registry)
        while after.total < before.total + 5, started.duration(to: .now) < .seconds(40) {
            try await Task.sleep(for: .milliseconds(20))
            after = Self.counts(registry)
        }
        #expect(after.total > before.total)
        #expect(after.total - after.within25ms >= 1, "a 40 ms stall was not seen")
        running.cancel()
        try await running.value
        try await group.shutdownGracefully()
    }

    /// Samples in all, and samples of 25 ms or less, from the registry's text.
    static func counts(_ registry: PrometheusCollectorRegistry) -> (total: Int, within25ms: Int) {
        var bytes: [UInt8] = []
        registry.emit(into: &bytes)
        var total = 0
        var within = 0
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            let value = Int(line.split(separator: " ").last ?? "") ?? 0
            if line.hasPrefix("switchyard_event_loop_lag_seconds_count") { total = value }
            if line.hasPrefix(#"switchyard_event_loop_lag_seconds_bucket{le="0.025"}"#) { within = value }
        }
        return (total, within)
    }
}
