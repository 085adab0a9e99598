import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import ServiceLifecycle
import SwiftProtobuf
import SwitchyardCore
import SwitchyardWire
import Synchronization

/// Requests and bad events of the canaries this node serves, per (canary, step, arm), cumulative
/// since the process started, and reported to the control plane (docs/canary.md).
final class CanaryCounters: Sendable {
    struct Key: Hashable, Sendable {
        var tenant: String
        var route: String
        var canary: Int64
        var step: Int
        var candidate: Bool
    }

    struct Counts: Sendable {
        var requests: Int64 = 0
        /// Per guardrail, in the canary's order.
        var bad: [Int64]
    }

    /// What a request of a canary route looked like when its response started.
    struct Observation: Sendable {
        var tag: CanaryTag
        var tenant: String
        var route: String
        var candidate: Bool
        /// The variant's own target did not give the answer.
        var failed: Bool
        var invalidOutput: Bool
        /// To the response head: the whole answer, or a stream's first token.
        var duration: Duration
        var costMicros: Int64?
    }

    let counts = Mutex<[Key: Counts]>([:])

    /// The bad events of one request, guardrail by guardrail.
    static func bad(_ observation: Observation) -> [Bool] {
        observation.tag.guardrails.map { guardrail in
            switch guardrail.kind {
            case .error: observation.failed
            case .latency, .firstToken: observation.duration > .milliseconds(guardrail.boundMs ?? Int.max)
            case .invalidOutput: observation.invalidOutput
            case .cost: (observation.costMicros ?? 0) > (guardrail.boundMicros ?? .max)
            // Counted when feedback arrives.
            case .negativeFeedback: false
            }
        }
    }

    func record(_ observation: Observation) {
        let key = Key(
            tenant: observation.tenant,
            route: observation.route,
            canary: observation.tag.id,
            step: observation.tag.step,
            candidate: observation.candidate
        )
        let bad = Self.bad(observation)
        self.counts.withLock { counts in
            var entry = counts[key] ?? Counts(bad: Array(repeating: 0, count: bad.count))
            if entry.bad.count != bad.count { entry.bad = Array(repeating: 0, count: bad.count) }
            entry.requests += 1
            for (index, isBad) in bad.enumerated() where isBad { entry.bad[index] += 1 }
            counts[key] = entry
        }
    }

    func snapshot() -> [(key: Key, counts: Counts)] {
        self.counts.withLock { $0.map { (key: $0.key, counts: $0.value) } }
    }

    /// Drops the counters of canaries the control plane no longer runs.
    func forget(_ ended: Set<Int64>) {
        guard !ended.isEmpty else { return }
        self.counts.withLock { counts in counts = counts.filter { !ended.contains($0.key.canary) } }
    }
}

/// Sends the canary counters to the control plane every `interval` (when there are any).
struct CanaryReporter: Service {
    let counters: CanaryCounters
    let client: HTTPClient
    let controlURL: String
    let nodeToken: String
    let nodeID: String
    let bootID: String
    let interval: Duration
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: self.interval)
                await self.report()
            }
        }
        await self.report()
    }

    func report() async {
        let rows = self.counters.snapshot()
        guard !rows.isEmpty else { return }
        var message = Switchyard_V1_MetricsReport()
        message.nodeID = self.nodeID
        message.bootID = self.bootID
        message.canaries = rows.map { row in
            .with {
                $0.tenant = row.key.tenant
                $0.route = row.key.route
                $0.canaryID = row.key.canary
                $0.step = UInt32(clamping: row.key.step)
                $0.candidate = row.key.candidate
                $0.requests = row.counts.requests
                $0.bad = row.counts.bad
            }
        }
        do {
            var request = HTTPClientRequest(url: self.controlURL + "/node/v1/metrics")
            request.method = .POST
            request.headers.add(name: "authorization", value: "Bearer \(self.nodeToken)")
            request.headers.add(name: "content-type", value: "application/x-protobuf")
            request.body = .bytes(ByteBuffer(data: try message.serializedData()))
            let response = try await self.client.execute(request, timeout: .seconds(5))
            let body = try await response.body.collect(upTo: 1 << 20)
            guard response.status == .ok else {
                self.logger.warning("canary report refused", metadata: ["status": "\(response.status.code)"])
                return
            }
            let ack = try Switchyard_V1_MetricsAck(serializedBytes: Data(buffer: body))
            self.counters.forget(Set(ack.endedCanaries))
        } catch {
            // Cumulative counters: the next report carries everything this one would have.
            self.logger.warning("canary report failed", metadata: ["error": "\(error)"])
        }
    }
}
