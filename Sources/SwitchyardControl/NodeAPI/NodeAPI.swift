import Foundation
import HTTPTypes
public import Hummingbird
public import Logging
import NIOCore
import NIOFoundationCompat
import ServiceLifecycle
import SwiftProtobuf
import SwitchyardCore
import SwitchyardWire

/// The API data-plane nodes call: snapshot long-poll, shard blobs, ACK/NACK.
public struct NodeAPI: Sendable {
    let store: ConfigStore
    let publisher: SnapshotPublisher
    let nodeToken: String
    let maxWait: Duration
    let leaseTTL: Duration
    let logger: Logger

    public init(
        store: ConfigStore,
        publisher: SnapshotPublisher,
        nodeToken: String,
        maxWait: Duration = .seconds(30),
        leaseTTL: Duration = .seconds(30),
        logger: Logger
    ) {
        self.leaseTTL = leaseTTL
        self.store = store
        self.publisher = publisher
        self.nodeToken = nodeToken
        self.maxWait = maxWait
        self.logger = logger
    }

    public func register(on router: Router<some RequestContext>) {
        let group = router.group("node/v1").add(
            middleware: BearerAuthMiddleware(
                token: self.nodeToken,
                missing: { HTTPError(.unauthorized, message: "node token required") },
                wrong: { HTTPError(.forbidden, message: "node token not valid") }
            )
        )

        group.get("snapshot") { request, _ -> Response in
            let query = request.uri.queryParameters
            let after = query.get("after").flatMap(Int.init) ?? -1
            let waitMs = min(max(query.get("wait_ms").flatMap(Int.init) ?? 30_000, 0), 600_000)
            let wait = min(Duration.milliseconds(waitMs), self.maxWait)
            if let nodeID = query.get("node_id"), !nodeID.isEmpty {
                let bootID = query.get("boot_id") ?? ""
                do {
                    try await self.store.touchNode(id: String(nodeID.prefix(200)), bootID: String(bootID.prefix(200)))
                } catch {
                    self.logger.warning("could not record node poll", metadata: ["error": "\(String(reflecting: error))"])
                }
            }
            // A held poll ends at once on graceful shutdown, so the server can stop promptly.
            let publisher = self.publisher
            let found = try await cancelWhenGracefulShutdown { try await publisher.snapshot(after: after, timeout: wait) }
            guard let snapshot = found else {
                return Response(status: .notModified, headers: Self.versionHeader(await self.publisher.latestKnownVersion))
            }
            var headers = Self.versionHeader(snapshot.version)
            headers[HTTPField.Name("x-switchyard-manifest-sha256")!] = snapshot.manifestSHA256
            if Self.wantsJSON(request) {
                headers[.contentType] = "application/json"
                let json = try snapshot.manifest.jsonUTF8Data()
                return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(data: json)))
            }
            headers[.contentType] = "application/x-protobuf"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(data: snapshot.manifestBytes)))
        }

        group.get("blobs/:sha256") { _, context -> Response in
            let hash = try context.parameters.require("sha256")
            guard let data = await self.publisher.blob(hash) else {
                throw HTTPError(.notFound, message: "no shard \(hash); fetch the manifest again")
            }
            return Response(
                status: .ok,
                headers: [.contentType: "application/x-protobuf"],
                body: .init(byteBuffer: ByteBuffer(data: data))
            )
        }

        group.post("lease") { request, _ -> Response in try await self.lease(request) }
        group.post("metrics") { request, _ -> Response in try await self.metrics(request) }
        group.post("status") { request, context -> Response in
            var request = request
            let buffer = try await request.collectBody(upTo: 64 * 1024)
            let status: Switchyard_V1_NodeStatus
            do {
                if request.headers[.contentType]?.hasPrefix("application/json") == true {
                    status = try Switchyard_V1_NodeStatus(jsonUTF8Data: Data(buffer: buffer))
                } else {
                    status = try Switchyard_V1_NodeStatus(serializedBytes: Data(buffer: buffer))
                }
            } catch {
                throw HTTPError(.badRequest, message: "body is not a NodeStatus message")
            }
            guard !status.nodeID.isEmpty, status.result != .unspecified else {
                throw HTTPError(.badRequest, message: "node_id and result are required")
            }
            let acked = status.result == .ack
            try await self.store.recordNodeStatus(
                id: String(status.nodeID.prefix(200)),
                bootID: String(status.bootID.prefix(200)),
                acked: acked,
                version: Int(clamping: status.version),
                appliedVersion: status.appliedVersion > 0 ? Int(clamping: status.appliedVersion) : nil,
                appliedHash: status.appliedSha256.isEmpty ? nil : status.appliedSha256,
                reason: acked ? nil : String(status.reason.prefix(2000))
            )
            if !acked {
                context.logger.warning(
                    "node rejected snapshot",
                    metadata: ["node": "\(status.nodeID)", "version": "\(status.version)", "reason": "\(status.reason)"]
                )
            }
            return Response(status: .noContent)
        }
    }

    /// `POST /node/v1/metrics`: cumulative canary counters. Answers which of the reported canaries
    /// have ended, so the node can drop their counters.
    func metrics(_ request: Request) async throws -> Response {
        var request = request
        let buffer = try await request.collectBody(upTo: 4 << 20)
        let message: Switchyard_V1_MetricsReport
        do {
            message = try Switchyard_V1_MetricsReport(serializedBytes: Data(buffer: buffer))
        } catch {
            throw HTTPError(.badRequest, message: "body is not a MetricsReport message")
        }
        guard !message.nodeID.isEmpty, !message.bootID.isEmpty, message.canaries.count <= 10_000 else {
            throw HTTPError(.badRequest, message: "node_id and boot_id are required; at most 10000 counters")
        }
        let holder = String(message.nodeID.prefix(200)) + "/" + String(message.bootID.prefix(100))
        let ended = try await self.store.recordCanaryCounters(
            holder: holder,
            rows: message.canaries.map { row in
                CanaryCounterRow(
                    canaryID: row.canaryID,
                    step: Int(row.step),
                    candidate: row.candidate,
                    requests: max(0, row.requests),
                    bad: Array(row.bad.prefix(64).map { max(0, $0) })
                )
            }
        )
        var ack = Switchyard_V1_MetricsAck()
        ack.endedCanaries = ended
        return Response(
            status: .ok,
            headers: [.contentType: "application/x-protobuf"],
            body: .init(byteBuffer: ByteBuffer(data: try ack.serializedData()))
        )
    }

    /// `POST /node/v1/lease`: budget lease reports and requests, and spend deltas.
    func lease(_ request: Request) async throws -> Response {
        var request = request
        let buffer = try await request.collectBody(upTo: 4 << 20)
        let message: Switchyard_V1_LeaseRequest
        do {
            message = try Switchyard_V1_LeaseRequest(serializedBytes: Data(buffer: buffer))
        } catch {
            throw HTTPError(.badRequest, message: "body is not a LeaseRequest message")
        }
        guard !message.nodeID.isEmpty, !message.bootID.isEmpty, message.items.count <= 10_000, message.usage.count <= 100_000 else {
            throw HTTPError(.badRequest, message: "node_id and boot_id are required; at most 10000 items")
        }
        let holder = String(message.nodeID.prefix(200)) + "/" + String(message.bootID.prefix(100))
        let items = message.items.map { item in
            LeaseAsk(
                tenant: item.tenant,
                budget: item.budget,
                window: String(item.window.prefix(32)),
                spentMicros: max(0, item.spentMicros),
                needMicros: max(0, item.needMicros),
                wantMicros: max(0, item.wantMicros),
                unitMicros: max(0, item.unitMicros),
                release: item.release
            )
        }
        // Spend first: it is independent of the leases, and a lost answer resends it harmlessly.
        if !message.usage.isEmpty {
            try await self.store.recordUsage(
                holder: holder,
                seq: Int64(clamping: message.usageSeq),
                rows: message.usage.map {
                    UsageRecord(
                        day: $0.day,
                        tenant: $0.tenant,
                        keyID: $0.keyID,
                        route: $0.route,
                        model: $0.model,
                        requests: $0.requests,
                        promptTokens: $0.promptTokens,
                        completionTokens: $0.completionTokens,
                        costMicros: $0.costMicros
                    )
                }
            )
        }
        let answers = try await self.store.lease(holder: holder, items: items, ttl: self.leaseTTL)
        var response = Switchyard_V1_LeaseResponse()
        response.ttlMs = self.leaseTTL.components.seconds * 1000 + self.leaseTTL.components.attoseconds / 1_000_000_000_000_000
        response.grants = zip(items, answers).map { item, answer in
            .with {
                $0.tenant = item.tenant
                $0.budget = item.budget
                $0.window = item.window
                $0.grantedMicros = answer.grantedMicros
                $0.windowSpentMicros = answer.windowSpentMicros
                $0.limitMicros = answer.limitMicros
                $0.unknown = answer.unknown
            }
        }
        return Response(
            status: .ok,
            headers: [.contentType: "application/x-protobuf"],
            body: .init(byteBuffer: ByteBuffer(data: try response.serializedData()))
        )
    }

    static func wantsJSON(_ request: Request) -> Bool {
        request.headers[.accept]?.contains("application/json") == true
    }

    static func versionHeader(_ version: Int) -> HTTPFields {
        [HTTPField.Name("x-switchyard-config-version")!: String(max(version, 0))]
    }
}
