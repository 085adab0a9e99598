public import Prometheus
import SwitchyardCore

/// The node's Prometheus metrics. One registry per node application, so several nodes in one
/// process (tests) keep separate counts.
public struct NodeMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    let configVersion: Gauge
    let snapshotRejections: Counter

    static let durationBuckets: [Duration] = [
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
        .milliseconds(500), .seconds(1), .seconds(2), .seconds(5), .seconds(10), .seconds(30), .seconds(60), .seconds(120),
    ]

    public init(registry: PrometheusCollectorRegistry = .init()) {
        self.registry = registry
        self.configVersion = registry.makeGauge(
            descriptor: .init(namespace: "switchyard", metricName: "config", unitName: "version", helpText: "Config version being served")
        )
        self.snapshotRejections = registry.makeCounter(
            descriptor: .init(
                namespace: "switchyard",
                metricName: "snapshot_rejections",
                unitName: "total",
                helpText: "Snapshots rejected (NACK)"
            )
        )
    }

    func request(route: String, status: Int, duration: Duration) {
        self.registry.makeCounter(
            descriptor: .init(namespace: "switchyard", metricName: "requests", unitName: "total", helpText: "Data-plane requests"),
            labels: [("route", route), ("status", String(status))]
        ).increment()
        self.registry.makeDurationHistogram(
            descriptor: .init(
                namespace: "switchyard",
                metricName: "request_duration",
                unitName: "seconds",
                helpText: "Time to the response head (streams: to the first token)"
            ),
            labels: [("route", route)],
            buckets: Self.durationBuckets
        ).record(duration)
    }

    /// A request waited for the control plane because this node's leases could not cover it.
    func leaseWait() {
        self.registry.makeCounter(
            descriptor: .init(
                namespace: "switchyard",
                metricName: "lease_waits",
                unitName: "total",
                helpText: "Requests that waited for the control plane because no lease held room (budgets, rate limits, capacity)"
            )
        ).increment()
    }

    func attempt(provider: String, model: String, outcome: String) {
        self.registry.makeCounter(
            descriptor: .init(namespace: "switchyard", metricName: "upstream_attempts", unitName: "total", helpText: "Upstream attempts by outcome"),
            labels: [("provider", provider), ("model", model), ("outcome", outcome)]
        ).increment()
    }

    /// An answer that failed the prompt's response schema (`kind`: `invalid_output` when first
    /// seen, `repair_failed` when the repair retry did not fix it either).
    func qualityFailure(route: String, model: String, prompt: String, kind: String) {
        self.registry.makeCounter(
            descriptor: .init(
                namespace: "switchyard",
                metricName: "quality_failures",
                unitName: "total",
                helpText: "Answers that failed the prompt's response schema"
            ),
            labels: [("route", route), ("model", model), ("prompt", prompt), ("kind", kind)]
        ).increment()
    }

    func tokens(route: String, model: String, usage: Usage) {
        let descriptor = MetricNameDescriptor(
            namespace: "switchyard",
            metricName: "tokens",
            unitName: "total",
            helpText: "Tokens reported by upstreams"
        )
        self.registry.makeCounter(descriptor: descriptor, labels: [("route", route), ("model", model), ("kind", "prompt")])
            .increment(by: Int64(usage.promptTokens))
        self.registry.makeCounter(descriptor: descriptor, labels: [("route", route), ("model", model), ("kind", "completion")])
            .increment(by: Int64(usage.completionTokens))
    }

    func emit() -> [UInt8] {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(4096)
        self.registry.emit(into: &buffer)
        return buffer
    }
}
