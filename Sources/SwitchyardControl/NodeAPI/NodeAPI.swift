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
    let logger: Logger

    public init(store: ConfigStore, publisher: SnapshotPublisher, nodeToken: String, maxWait: Duration = .seconds(30), logger: Logger) {
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

    static func wantsJSON(_ request: Request) -> Bool {
        request.headers[.accept]?.contains("application/json") == true
    }

    static func versionHeader(_ version: Int) -> HTTPFields {
        [HTTPField.Name("x-switchyard-config-version")!: String(max(version, 0))]
    }
}
