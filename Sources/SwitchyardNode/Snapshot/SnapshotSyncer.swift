import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOPosix
import Prometheus
import ServiceLifecycle
import SwiftProtobuf
import SwitchyardCore
import SwitchyardWire

/// Keeps the node's snapshot current: long-polls the control plane, fetches changed shards,
/// validates, swaps atomically, persists, and reports ACK or NACK. While the control plane is
/// unreachable it keeps serving what it has and retries with backoff.
struct SnapshotSyncer: Service {
    let configuration: NodeConfiguration
    let state: SnapshotState
    let loader: SnapshotLoader
    let disk: SnapshotDisk?
    let client: HTTPClient
    let bootID: String
    let metrics: NodeMetrics
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await self.loop()
        }
    }

    private func loop() async {
        var after = self.state.loaded?.version ?? -1
        var pending: Switchyard_V1_NodeStatus? = self.state.loaded.map { self.status(ack: $0.version) }
        var backoff = Duration.milliseconds(250)
        while !Task.isCancelled {
            if let status = pending, await self.report(status) { pending = nil }
            do {
                guard let (manifestBytes, manifest) = try await self.poll(after: after) else {
                    backoff = .milliseconds(250)
                    continue
                }
                do {
                    let (snapshot, fetched) = try await self.fetchAndLoad(manifestBytes: manifestBytes, manifest: manifest)
                    // The replaced snapshot is torn down on the worker, not on the event loop
                    // (unless a request still holds it, which then frees it when it ends).
                    let replaced = self.state.exchange(snapshot)
                    self.metrics.configVersion.set(Double(snapshot.version))
                    after = snapshot.version
                    pending = self.status(ack: snapshot.version)
                    self.logger.info("applied snapshot", metadata: ["version": "\(snapshot.version)"])
                    if let disk = self.disk {
                        do { try await SnapshotWorker.run { try disk.save(manifestBytes: snapshot.manifestBytes, blobs: fetched) } } catch {
                            self.logger.error("could not persist snapshot", metadata: ["error": "\(error)"])
                        }
                    }
                    await SnapshotWorker.release(consume replaced)
                } catch SnapshotLoader.LoadError.rejected(let reason) {
                    // Keep serving the old snapshot; wait for a version newer than the rejected one.
                    after = Int(clamping: manifest.version)
                    pending = self.status(nack: Int(clamping: manifest.version), reason: reason)
                    self.metrics.snapshotRejections.increment()
                    self.logger.error("rejected snapshot", metadata: ["version": "\(manifest.version)", "reason": "\(reason)"])
                }
                backoff = .milliseconds(250)
            } catch {
                if Task.isCancelled { return }
                self.logger.warning("snapshot sync failed; retrying", metadata: ["error": "\(error)", "retry_in": "\(backoff)"])
                try? await Task.sleep(for: backoff.jittered())
                backoff = min(backoff * 2, .seconds(10))
            }
        }
    }

    /// One long-poll. `nil` when the control plane had nothing newer within the wait.
    private func poll(after: Int) async throws -> (Data, Switchyard_V1_SnapshotManifest)? {
        // Jitter the hold so a fleet started together does not re-poll in lockstep.
        let waitMs = max(Int(self.configuration.longPollWait.milliseconds) - Int.random(in: 0...5_000), 1_000)
        var components = URLComponents(string: self.configuration.controlURL + "/node/v1/snapshot")
        components?.queryItems = [
            .init(name: "after", value: String(after)), .init(name: "wait_ms", value: String(waitMs)),
            .init(name: "node_id", value: self.configuration.nodeID), .init(name: "boot_id", value: self.bootID),
        ]
        guard let url = components?.string else { throw SyncError("bad control URL '\(self.configuration.controlURL)'") }
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "authorization", value: "Bearer \(self.configuration.nodeToken)")
        let response = try await self.client.execute(request, timeout: .milliseconds(Int64(waitMs) + 10_000), logger: self.logger)
        let body = try await response.body.collect(upTo: self.configuration.limits.maxSnapshotBytes)
        switch response.status.code {
        case 200:
            // A manifest lists every shard (1,000 tenants: ~85 KB): decoded on the worker.
            let data = Data(buffer: body)
            return (data, try await SnapshotWorker.run { try Switchyard_V1_SnapshotManifest(serializedBytes: data) })
        case 304:
            return nil
        default:
            throw SyncError("control plane answered \(response.status.code) to the snapshot poll")
        }
    }

    /// Fetches the shards the serving snapshot lacks, then decodes the version; returns it and
    /// the fetched shards (for the disk copy).
    private func fetchAndLoad(
        manifestBytes: Data,
        manifest: Switchyard_V1_SnapshotManifest
    ) async throws -> (LoadedSnapshot, [String: Data]) {
        try self.loader.precheck(manifest)
        let previous = self.state.loaded
        var blobs: [String: Data] = [:]
        for ref in SnapshotLoader.refs(manifest) {
            if previous?.has(shard: ref.sha256) == true { continue }
            var request = HTTPClientRequest(url: self.configuration.controlURL + "/node/v1/blobs/" + ref.sha256)
            request.headers.add(name: "authorization", value: "Bearer \(self.configuration.nodeToken)")
            let response = try await self.client.execute(request, timeout: .seconds(30), logger: self.logger)
            let body = try await response.body.collect(upTo: self.configuration.limits.maxSnapshotBytes)
            guard response.status.code == 200 else { throw SyncError("shard \(ref.sha256): control plane answered \(response.status.code)") }
            blobs[ref.sha256] = Data(buffer: body)
        }
        // Decoding and compiling a large snapshot takes milliseconds to seconds: on a thread of
        // its own, not on an event loop that is serving requests (p99 stays flat during swaps).
        let loader = self.loader
        let fetched = blobs
        let started = ContinuousClock.now
        let result = try await SnapshotWorker.run {
            Result { () throws(SnapshotLoader.LoadError) in try loader.load(manifestBytes: manifestBytes, blobs: fetched, previous: previous) }
        }
        self.logger.info(
            "decoded snapshot",
            metadata: [
                "version": "\(manifest.version)", "fetched_shards": "\(fetched.count)",
                "fetched_bytes": "\(fetched.values.reduce(manifestBytes.count) { $0 + $1.count })",
                "ms": "\(started.duration(to: .now).milliseconds)",
            ]
        )
        switch result {
        case .success(let snapshot): return (snapshot, fetched)
        case .failure(.corrupt(let reason)): throw SyncError(reason)
        case .failure(let rejection): throw rejection
        }
    }

    private func status(ack version: Int) -> Switchyard_V1_NodeStatus {
        var status = self.baseStatus()
        status.result = .ack
        status.version = UInt64(version)
        return status
    }

    private func status(nack version: Int, reason: String) -> Switchyard_V1_NodeStatus {
        var status = self.baseStatus()
        status.result = .nack
        status.version = UInt64(version)
        status.reason = reason
        return status
    }

    private func baseStatus() -> Switchyard_V1_NodeStatus {
        var status = Switchyard_V1_NodeStatus()
        status.nodeID = self.configuration.nodeID
        status.bootID = self.bootID
        if let loaded = self.state.loaded {
            status.appliedVersion = UInt64(loaded.version)
            status.appliedSha256 = loaded.manifestSHA256
        }
        return status
    }

    /// Sends an ACK/NACK; false when it should be retried.
    private func report(_ status: Switchyard_V1_NodeStatus) async -> Bool {
        do {
            var request = HTTPClientRequest(url: self.configuration.controlURL + "/node/v1/status")
            request.method = .POST
            request.headers.add(name: "authorization", value: "Bearer \(self.configuration.nodeToken)")
            request.headers.add(name: "content-type", value: "application/x-protobuf")
            request.body = .bytes(ByteBuffer(data: try status.serializedData()))
            let response = try await self.client.execute(request, timeout: .seconds(10), logger: self.logger)
            _ = try await response.body.collect(upTo: 64 * 1024)
            return (200..<300).contains(Int(response.status.code))
        } catch {
            self.logger.debug("status report failed", metadata: ["error": "\(error)"])
            return false
        }
    }
}

struct SyncError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

extension Duration {
    var milliseconds: Int64 { self.components.seconds * 1000 + self.components.attoseconds / 1_000_000_000_000_000 }

    /// Between 50 % and 150 % of self.
    func jittered() -> Duration { self * Double.random(in: 0.5...1.5) }
}
