import NIOCore
import Prometheus
import ServiceLifecycle

/// How late each event loop runs a timer. Everything a node does for a request happens on one
/// loop, so work that holds a loop (a large decode, a long synchronous call) delays every request
/// queued behind it; the lag histogram shows such stalls where request latencies only hint at them.
struct EventLoopLagProbe: Service {
    let group: any EventLoopGroup
    let histogram: DurationHistogram
    var interval: TimeAmount = .milliseconds(10)

    static let buckets: [Duration] = [
        .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
        .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .seconds(1),
    ]

    init(group: any EventLoopGroup, registry: PrometheusCollectorRegistry, interval: TimeAmount = .milliseconds(10)) {
        self.group = group
        self.interval = interval
        self.histogram = registry.makeDurationHistogram(
            descriptor: .init(
                namespace: "switchyard",
                metricName: "event_loop_lag",
                unitName: "seconds",
                helpText: "How late an event loop ran a timer due every \(interval.nanoseconds / 1_000_000) ms (stalls of the loop)"
            ),
            buckets: Self.buckets
        )
    }

    func run() async throws {
        let interval = self.interval
        let histogram = self.histogram
        let tasks = self.group.makeIterator().map { loop in
            // Confined to its loop: the time the next run is due.
            let due = NIOLoopBoundBox.makeBoxSendingValue(NIODeadline.now() + interval, eventLoop: loop)
            return loop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
                let now = NIODeadline.now()
                histogram.record(.nanoseconds(max(0, (now - due.value).nanoseconds)))
                due.value = now + interval
            }
        }
        try? await gracefulShutdown()
        for task in tasks { task.cancel() }
    }
}
