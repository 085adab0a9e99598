import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import PostgresNIO
import SwitchyardCLI
import SwitchyardCore
import SwitchyardTesting
import Testing

/// Config distribution: long-poll propagation, static stability, disk copy, NACK, replicas.
@Suite(.serialized) struct SnapshotTests {
    @Test func adminWriteIsServedWithinTwoSeconds() async throws {
        try await Fixture.with { fixture in
            let key = try await fixture.seed()
            try await fixture.route("chat", "good")
            let node = try await fixture.node()
            #expect(await fixture.waitForRoute(node, key: key, alias: "chat", timeout: .seconds(5)))
            // The node is now parked in a long-poll; a write must wake it, not its 30 s re-poll.
            try await Task.sleep(for: .milliseconds(200))
            try await fixture.route("chat", "good-b")
            // Propagation counts from the acknowledged write (under a loaded test run the write
            // itself can take a good part of a second).
            let written = ContinuousClock.now
            let switched = await eventually(timeout: .seconds(2)) {
                try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "chat")).headers["x-switchyard-model"] == "good-b"
            }
            #expect(switched, "route change not served within 2 s")
            #expect(written.duration(to: .now) < .seconds(2))
            let revision = try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "chat")).headers["x-switchyard-revision"]
            #expect(revision == "2")
            // The node reports what it applied.
            let version = try await fixture.configVersion()
            #expect(
                await eventually {
                    let (_, nodes) = try await fixture.admin.send(.GET, "/admin/v1/nodes")
                    return nodes["data"]?[0]?["applied_version"]?.intValue == Int64(version) && nodes["data"]?[0]?["status"] == "ack"
                }
            )
            await node.stop()
        }
    }

    @Test func revokedKeyStopsWorking() async throws {
        try await Fixture.with { fixture in
            let key = try await fixture.seed()
            try await fixture.route("chat", "good")
            let node = try await fixture.node()
            #expect(await fixture.waitForRoute(node, key: key, alias: "chat", timeout: .seconds(5)))
            let (_, keys) = try await fixture.admin.send(.GET, "/admin/v1/tenants/acme/keys")
            let id = try #require(keys["data"]?[0]?["id"]?.stringValue)
            try await fixture.admin.send(.DELETE, "/admin/v1/tenants/acme/keys/\(id)")
            #expect(
                await eventually {
                    try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "chat")).status == 401
                }
            )
            await node.stop()
        }
    }

    @Test func nodeKeepsServingAndStaysReadyWithControlPlaneDown() async throws {
        try await Fixture.with { fixture in
            let key = try await fixture.seed()
            try await fixture.route("chat", "good")
            let stateDirectory = temporaryDirectory()
            let node = try await fixture.node(stateDirectory: stateDirectory)
            #expect(await fixture.waitForRoute(node, key: key, alias: "chat", timeout: .seconds(5)))
            await fixture.control.stop()

            for _ in 0..<3 {
                let response = try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "chat"))
                #expect(response.status == 200)
                let ready = try await callNode(fixture.http, node.url, key: nil, body: "", method: .GET, path: "/readyz")
                #expect(ready.status == 200)
                try await Task.sleep(for: .milliseconds(300))
            }

            // A restart while the control plane is still down serves from the disk copy.
            await node.stop()
            let restarted = try await fixture.node(stateDirectory: stateDirectory)
            let ready = try await callNode(fixture.http, restarted.url, key: nil, body: "", method: .GET, path: "/readyz")
            #expect(ready.status == 200)
            let response = try await callNode(fixture.http, restarted.url, key: key, body: chatBody(model: "chat"))
            #expect(response.status == 200)
            #expect(response.json["choices"]?[0]?["message"]?["content"] == "mock reply to: hello")
            await restarted.stop()

            // Without a disk copy and without a control plane there is nothing to serve: not ready.
            let empty = try await fixture.node(stateDirectory: temporaryDirectory())
            let notReady = try await callNode(fixture.http, empty.url, key: nil, body: "", method: .GET, path: "/readyz")
            #expect(notReady.status == 503)
            let refused = try await callNode(fixture.http, empty.url, key: key, body: chatBody(model: "chat"))
            #expect(refused.status == 503)
            #expect(refused.json["error"]?["code"] == "not_ready")
            await empty.stop()
        }
    }

    /// With the database gone, the admin API answers 503 `unavailable` (nothing written, no
    /// hang), the control plane is not ready, and nodes keep serving; it recovers by itself.
    @Test func databaseOutageAnswers503AndNodesKeepServing() async throws {
        try await Fixture.with { fixture in
            let key = try await fixture.seed()
            try await fixture.route("chat", "good")
            let node = try await fixture.node()
            #expect(await fixture.waitForRoute(node, key: key, alias: "chat", timeout: .seconds(5)))
            let database = try #require(fixture.database.database)
            try await TestPostgres.executeAsSuperuser("ALTER DATABASE \"\(database)\" ALLOW_CONNECTIONS false")
            try await TestPostgres.executeAsSuperuser(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '\(database)'"
            )

            let started = ContinuousClock.now
            let (status, body) = try await fixture.admin.send(.POST, "/admin/v1/tenants", ["name": "during-outage"], allow: [503])
            #expect(status == 503)
            #expect(body["error"]?["code"] == "unavailable")
            #expect(started.duration(to: .now) < .seconds(20))
            let ready = try await callNode(fixture.http, fixture.control.url, key: nil, body: "", method: .GET, path: "/readyz")
            #expect(ready.status == 503)
            #expect(try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "chat")).status == 200)

            try await TestPostgres.executeAsSuperuser("ALTER DATABASE \"\(database)\" ALLOW_CONNECTIONS true")
            #expect(
                await eventually(timeout: .seconds(15)) {
                    try await fixture.admin.send(.GET, "/admin/v1/tenants", allow: [503]).0 == 200
                }
            )
            let (_, tenants) = try await fixture.admin.send(.GET, "/admin/v1/tenants")
            #expect(tenants["data"]?.arrayValue?.contains { $0["name"] == "during-outage" } == false)
            await node.stop()
        }
    }

    @Test func rejectedSnapshotKeepsTheOldOneAndShowsAsNack() async throws {
        try await Fixture.with { fixture in
            let key = try await fixture.seed()
            try await fixture.route("first", "good")
            var limits = SnapshotLimits()
            limits.maxRoutesPerTenant = 1
            let node = try await fixture.node(limits: limits)
            #expect(await fixture.waitForRoute(node, key: key, alias: "first", timeout: .seconds(5)))
            try await fixture.route("second", "good")
            let rejectedVersion = try await fixture.configVersion()
            #expect(
                await eventually(timeout: .seconds(3)) {
                    let (_, nodes) = try await fixture.admin.send(.GET, "/admin/v1/nodes")
                    return nodes["data"]?[0]?["status"] == "nack"
                }
            )
            let (_, nodes) = try await fixture.admin.send(.GET, "/admin/v1/nodes")
            let nodeEntry = nodes["data"]?[0]
            #expect(nodeEntry?["rejected_version"]?.intValue == Int64(rejectedVersion))
            #expect(nodeEntry?["reason"]?.stringValue?.contains("over the limit of 1") == true)
            #expect((nodeEntry?["applied_version"]?.intValue ?? .max) < Int64(rejectedVersion))
            // The old snapshot still serves; the new route is unknown to the node.
            #expect(try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "first")).status == 200)
            #expect(try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "second")).status == 404)
            // Fixing the config (back under the limit) is accepted again.
            try await fixture.admin.send(.DELETE, "/admin/v1/tenants/acme/routes/first")
            #expect(await fixture.waitForRoute(node, key: key, alias: "second", timeout: .seconds(3)))
            await node.stop()
        }
    }

    @Test func twoReplicasBothWakeTheirLongPollers() async throws {
        try await Fixture.with { fixture in
            let key = try await fixture.seed()
            try await fixture.route("chat", "good")
            // A second control-plane replica on the same database; version polling is off (60 s),
            // so only LISTEN/NOTIFY can wake it.
            let replica = try await TestServers.control(database: fixture.database, secrets: fixture.secrets)
            let nodeA = try await fixture.node()
            let nodeB = try await fixture.node(controlURL: replica.url)
            #expect(await fixture.waitForRoute(nodeA, key: key, alias: "chat", timeout: .seconds(5)))
            #expect(await fixture.waitForRoute(nodeB, key: key, alias: "chat", timeout: .seconds(5)))
            try await Task.sleep(for: .milliseconds(200))
            // Written through replica 1; node B long-polls replica 2.
            try await fixture.route("chat", "good-b")
            for node in [nodeA, nodeB] {
                #expect(
                    await eventually(timeout: .seconds(2)) {
                        try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "chat")).headers["x-switchyard-model"] == "good-b"
                    }
                )
            }
            // And the other way round.
            let replicaAdmin = AdminClient(client: fixture.http, baseURL: replica.url, token: fixture.secrets.adminToken)
            try await replicaAdmin.send(
                .PUT,
                "/admin/v1/tenants/acme/routes/chat",
                ["default": ["model": "good"], "comment": "via replica 2"]
            )
            for node in [nodeA, nodeB] {
                #expect(
                    await eventually(timeout: .seconds(2)) {
                        try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "chat")).headers["x-switchyard-model"] == "good"
                    }
                )
            }
            // Both replicas compile byte-identical shards, so any replica can serve any blob.
            func shardHashes(_ control: RunningServer) async throws -> [String] {
                var request = HTTPClientRequest(url: control.url + "/node/v1/snapshot?after=0")
                request.headers.add(name: "authorization", value: "Bearer \(fixture.secrets.nodeToken)")
                request.headers.add(name: "accept", value: "application/json")
                let response = try await fixture.http.execute(request, timeout: .seconds(10))
                let manifest = try JSONDecoder().decode(JSONValue.self, from: Data(buffer: try await response.body.collect(upTo: 1 << 20)))
                let refs = [manifest["shared"]] + (manifest["tenants"]?.arrayValue ?? []).map(Optional.some)
                return refs.compactMap { $0?["sha256"]?.stringValue }
            }
            let first = try await shardHashes(fixture.control)
            let second = try await shardHashes(replica)
            #expect(first.count == 2)
            #expect(first == second)
            await nodeA.stop()
            await nodeB.stop()
            await replica.stop()
        }
    }

    @Test func longPollAnswersAtOnceWhenBehindAndHoldsWhenCurrent() async throws {
        try await Fixture.with { fixture in
            try await fixture.seed()
            let version = try await fixture.configVersion()
            func poll(after: Int, waitMs: Int) async throws -> (Int, Duration) {
                var request = HTTPClientRequest(url: fixture.control.url + "/node/v1/snapshot?after=\(after)&wait_ms=\(waitMs)")
                request.headers.add(name: "authorization", value: "Bearer \(fixture.secrets.nodeToken)")
                let started = ContinuousClock.now
                let response = try await fixture.http.execute(request, timeout: .seconds(40))
                _ = try await response.body.collect(upTo: 1 << 20)
                return (Int(response.status.code), started.duration(to: .now))
            }
            let behind = try await poll(after: version - 1, waitMs: 5_000)
            #expect(behind.0 == 200)
            #expect(behind.1 < .seconds(1))
            let current = try await poll(after: version, waitMs: 700)
            #expect(current.0 == 304)
            #expect(current.1 >= .milliseconds(600))
            // A node ahead of the database (restored from a backup) gets the database's version at once.
            let ahead = try await poll(after: version + 5, waitMs: 5_000)
            #expect(ahead.0 == 200)
            #expect(ahead.1 < .seconds(1))

            var unauthenticated = HTTPClientRequest(url: fixture.control.url + "/node/v1/snapshot?after=0")
            unauthenticated.headers.add(name: "authorization", value: "Bearer wrong")
            let denied = try await fixture.http.execute(unauthenticated, timeout: .seconds(5))
            #expect(denied.status == .forbidden)
        }
    }
}
