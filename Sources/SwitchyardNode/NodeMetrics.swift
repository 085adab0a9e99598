import NIOConcurrencyHelpers
public import Prometheus
import SwitchyardCore

/// The node's Prometheus metrics. One registry per node application, so several nodes in one
/// process (tests) keep separate counts.
public struct NodeMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    let configVersion: Gauge
    let snapshotRejections: Counter
    /// The per-request metric handles by their labels: the registry builds label lists and
    /// takes its lock on every lookup, which showed in the hot path's profile.
    private let handles = HandleCache()

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

    public func request(route: String, status: Int, duration: Duration) {
        let (counter, histogram) = self.handles.get(.init(metric: .requests, labels: [route, String(status)])) {
            (
                self.registry.makeCounter(
                    descriptor: .init(namespace: "switchyard", metricName: "requests", unitName: "total", helpText: "Data-plane requests"),
                    labels: [("route", route), ("status", String(status))]
                ),
                self.registry.makeDurationHistogram(
                    descriptor: .init(
                        namespace: "switchyard",
                        metricName: "request_duration",
                        unitName: "seconds",
                        helpText: "Time to the response head (streams: to the first token)"
                    ),
                    labels: [("route", route)],
                    buckets: Self.durationBuckets
                )
            )
        }
        counter.increment()
        histogram.record(duration)
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
        self.handles.get(.init(metric: .attempts, labels: [provider, model, outcome])) {
            self.registry.makeCounter(
                descriptor: .init(
                    namespace: "switchyard",
                    metricName: "upstream_attempts",
                    unitName: "total",
                    helpText: "Upstream attempts by outcome"
                ),
                labels: [("provider", provider), ("model", model), ("outcome", outcome)]
            )
        }.increment()
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
        let (prompt, completion) = self.handles.get(.init(metric: .tokens, labels: [route, model])) {
            (
                self.registry.makeCounter(descriptor: descriptor, labels: [("route", route), ("model", model), ("kind", "prompt")]),
                self.registry.makeCounter(descriptor: descriptor, labels: [("route", route), ("model", model), ("kind", "completion")])
            )
        }
        prompt.increment(by: Int64(usage.promptTokens))
        completion.increment(by: Int64(usage.completionTokens))
    }

    func emit() -> [UInt8] {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(4096)
        self.registry.emit(into: &buffer)
        return buffer
    }
}

/// Metric handles by metric and label values; past `limit` entries (a label with unbounded
/// values) it stops remembering and the registry is asked each time.
final class HandleCache: Sendable {
    enum Metric: Hashable {
        case requests
        case attempts
        case tokens
    }

    struct Key: Hashable {
        var metric: Metric
        var labels: [String]
    }

    private let entries = NIOLockedValueBox<[Key: any Sendable]>([:])
    let limit = 10_000

    func get<Handle: Sendable>(_ key: Key, make: () -> Handle) -> Handle {
        if let found = self.entries.withLockedValue({ $0[key] }) as? Handle { return found }
        let made = make()
        self.entries.withLockedValue { entries in
            if entries.count < self.limit { entries[key] = made }
        }
        return made
    }
}
