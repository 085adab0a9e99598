import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import PostgresNIO
import SwitchyardControl
import SwitchyardCore
import SwitchyardTesting
import Testing

@testable import SwitchyardCLI

/// Hard budgets across a fleet: leases from the control plane keep the total spend within the
/// limit however many nodes serve, and the budget's outage policy holds when the control plane
/// is gone.
@Suite(.serialized) struct BudgetTests {
    /// A model whose every request costs exactly $0.001 (no token prices, a per-request price), so
    /// the worst case reserved is the actual cost and the count of requests a budget allows is exact.
    static func pricedRoute(_ fixture: Fixture) async throws {
        try await fixture.admin.send(
            .PUT,
            "/admin/v1/models/priced",
            [
                "provider": "mock", "upstream_model": "priced-model", "input_price_per_mtok": 0, "output_price_per_mtok": 0,
                "request_price_usd": 0.001,
            ]
        )
        try await fixture.route("paid", "priced")
    }

    /// An HTTP client with enough connections for `clients` concurrent requests per node.
    static func loadClient(_ clients: Int) -> HTTPClient {
        var configuration = HTTPClient.Configuration(timeout: .init(connect: .seconds(10), read: .seconds(60)))
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = clients
        return HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: configuration)
    }

    /// Sends `perClient` requests from each of `clients` concurrent clients, spread over `nodes`;
    /// returns the statuses (and error codes) seen.
    static func load(_ client: HTTPClient, nodes: [String], key: String, clients: Int, perClient: Int) async throws -> [String: Int] {
        try await withThrowingTaskGroup(of: [String].self) { group in
            for index in 0..<clients {
                group.addTask {
                    var seen: [String] = []
                    for round in 0..<perClient {
                        let node = nodes[(index + round) % nodes.count]
                        let response = try await callNode(client, node, key: key, body: chatBody(model: "paid"))
                        seen.append(response.status == 200 ? "200" : "\(response.status) \(response.json["error"]?["code"]?.stringValue ?? "?")")
                    }
                    return seen
                }
            }
            var counts: [String: Int] = [:]
            for try await statuses in group { for status in statuses { counts[status, default: 0] += 1 } }
            return counts
        }
    }

    /// Waits until `count` nodes report the current config version applied.
    static func waitForNodes(_ fixture: Fixture, count: Int) async throws {
        let version = try await fixture.configVersion()
        let ready = await eventually(timeout: .seconds(10)) {
            let (_, nodes) = try await fixture.admin.send(.GET, "/admin/v1/nodes")
            let applied = nodes["data"]?.arrayValue?.filter { ($0["applied_version"]?.intValue ?? 0) >= version } ?? []
            return applied.count >= count
        }
        #expect(ready, "nodes did not apply config version \(version)")
    }

    static func budgetStatus(_ fixture: Fixture, _ name: String) async throws -> JSONValue {
        try await fixture.admin.send(.GET, "/admin/v1/tenants/acme/budgets/\(name)").1
    }

    @Test func threeNodesAndTwoHundredClientsSpendExactlyTheBudget() async throws {
        try await Fixture.with { fixture in
            let key = try await fixture.seed()
            try await Self.pricedRoute(fixture)
            // $0.30 at $0.001 a request: exactly 300 requests fit.
            let (created, budget) = try await fixture.admin.send(
                .PUT,
                "/admin/v1/tenants/acme/budgets/cap",
                ["period": "total", "limit_usd": 0.3, "mode": "hard", "outage_policy": "deny"]
            )
            #expect(created == 201 && budget["limit_usd"] == 0.3, "\(budget)")
            var nodes: [RunningServer] = []
            for _ in 0..<3 { nodes.append(try await fixture.node(leaseReportInterval: .milliseconds(100))) }
            // A budget counts from when a node has it: wait until every node applied it.
            try await Self.waitForNodes(fixture, count: 3)
            for node in nodes { #expect(await fixture.waitForRoute(node, key: key, alias: "paid", timeout: .seconds(5))) }
            // The warm-up requests above spent from the budget too: count them.
            let warmUp = try await fixture.mockCounts()["priced-model"] ?? 0

            let client = Self.loadClient(80)
            let counts: [String: Int]
            do {
                counts = try await Self.load(client, nodes: nodes.map(\.url), key: key, clients: 200, perClient: 3)
            } catch {
                try? await client.shutdown()
                for node in nodes { await node.stop() }
                throw error
            }
            try? await client.shutdown()

            // Zero overshoot, and nothing refused while the budget had room.
            if counts["200", default: 0] + warmUp != 300 {
                try await Task.sleep(for: .seconds(1))
                let postgres = PostgresClient(configuration: fixture.database)
                try await withThrowingDiscardingTaskGroup { group in
                    group.addTask { await postgres.run() }
                    let rows = try await postgres.query("SELECT holder || ' ' || granted_micros || ' ' || spent_micros FROM budget_leases")
                    for try await text in rows.decode(String.self) { print("DEBUG lease \(text)") }
                    let windows = try await postgres.query("SELECT window_id || ' ' || spent_micros FROM budget_windows")
                    for try await text in windows.decode(String.self) { print("DEBUG window \(text)") }
                    group.cancelAll()
                }
            }
            #expect(counts["200", default: 0] + warmUp == 300, "\(counts), warm-up \(warmUp)")
            #expect(counts["429 budget_exceeded", default: 0] == 600 - counts["200", default: 0], "\(counts)")
            #expect(try await fixture.mockCounts()["priced-model"] == 300)

            // Every node reports; the control plane's books agree.
            #expect(
                await eventually(timeout: .seconds(5)) {
                    try await Self.budgetStatus(fixture, "cap")["current"]?["spent_micros"] == 300_000
                }
            )
            let status = try await Self.budgetStatus(fixture, "cap")
            #expect(status["current"]?["remaining_usd"] == 0.0, "\(status)")
            #expect(
                await eventually(timeout: .seconds(5)) {
                    let (_, spend) = try await fixture.admin.send(.GET, "/admin/v1/tenants/acme/spend?group_by=route,model")
                    return spend["data"] == [
                        [
                            "route": "paid", "model": "priced", "requests": 300, "prompt_tokens": .int(Int64(300 * Self.promptTokens)),
                            "completion_tokens": .int(Int64(300 * Self.completionTokens)), "cost_usd": 0.3, "cost_micros": 300_000,
                        ]
                    ]
                }
            )
            // The CLI reads the same numbers.
            let connection = ["--admin-url", fixture.control.url, "--admin-token", fixture.secrets.adminToken, "--env-file", "/nonexistent"]
            try await SpendCommand.parse(["--tenant", "acme", "--by", "route,model"] + connection).run()
            try await SpendCommand.parse(["--tenant", "acme", "--budgets"] + connection).run()
            #expect(
                SpendCommand.table(["A", "BB"], [["xyz", "1"]]) == "A    BB\nxyz  1"
            )
            for node in nodes { await node.stop() }
        }
    }

    /// What the mock counts for `chatBody(model: "paid")`: "hello" in, "mock reply to: hello" out.
    static let promptTokens = 1
    static let completionTokens = 4

    @Test func outagePoliciesHoldWhenTheControlPlaneIsGone() async throws {
        try await Fixture.with(leaseTTL: .seconds(2)) { fixture in
            let key = try await fixture.seed()
            try await Self.pricedRoute(fixture)
            try await fixture.route("paid-safe", "priced")
            try await fixture.admin.send(
                .PUT,
                "/admin/v1/tenants/acme/budgets/strict",
                ["scope": ["kind": "route", "value": "paid"], "period": "day", "limit_usd": 10, "outage_policy": "deny"]
            )
            try await fixture.admin.send(
                .PUT,
                "/admin/v1/tenants/acme/budgets/safe",
                [
                    "scope": ["kind": "route", "value": "paid-safe"], "period": "day", "limit_usd": 10, "outage_policy": "safe",
                    "safe_allowance_usd": 0.005,
                ]
            )
            let nodes = [
                try await fixture.node(leaseReportInterval: .milliseconds(100)), try await fixture.node(leaseReportInterval: .milliseconds(100)),
            ]
            try await Self.waitForNodes(fixture, count: 2)
            for node in nodes { #expect(await fixture.waitForRoute(node, key: key, alias: "paid-safe", timeout: .seconds(5))) }
            for node in nodes { #expect(try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "paid")).status == 200) }

            // The control plane goes away. Leases live 2 s; after that, `deny` refuses and `safe`
            // serves at most its allowance (5 requests) per node.
            await fixture.control.stop()
            try await Task.sleep(for: .seconds(3))
            var servedSafe = 0
            for node in nodes {
                let denied = try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "paid"))
                #expect(denied.status == 503 && denied.json["error"]?["code"] == "budget_unavailable", "\(denied.body)")
                var served = 0
                for _ in 0..<8 {
                    let answer = try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "paid-safe"))
                    if answer.status == 200 { served += 1 } else { #expect(answer.json["error"]?["code"] == "budget_unavailable") }
                }
                #expect(served <= 5, "node served \(served) requests on the safe allowance")
                #expect(served >= 1)
                servedSafe += served
            }

            // The control plane comes back on the same address: the outage spend is reported and
            // counted, and the books match what was served.
            let restarted = try await TestServers.control(
                database: fixture.database,
                secrets: fixture.secrets,
                port: fixture.control.port,
                leaseTTL: .seconds(2)
            )
            let expectedSafe = Int64(1_000 * (2 + servedSafe))
            #expect(
                await eventually(timeout: .seconds(10)) {
                    try await Self.budgetStatus(fixture, "safe")["current"]?["spent_micros"]?.intValue == expectedSafe
                },
                "served on the safe allowance: \(servedSafe) (+2 before the outage)"
            )
            let safeStatus = try await Self.budgetStatus(fixture, "safe")
            #expect(safeStatus["current"]?["spent_micros"]?.intValue == expectedSafe, "\(safeStatus)")
            #expect(
                await eventually(timeout: .seconds(5)) {
                    try await Self.budgetStatus(fixture, "strict")["current"]?["spent_micros"] == 2_000
                }
            )
            // With the control plane back, the strict budget serves again.
            #expect(
                await eventually(timeout: .seconds(5)) {
                    try await callNode(fixture.http, nodes[0].url, key: key, body: chatBody(model: "paid")).status == 200
                }
            )
            for node in nodes { await node.stop() }
            await restarted.stop()
        }
    }

    /// Thresholds and exhaustion reach the tenant's webhook as signed events, each once per window:
    /// 50/80/100 % of a hard budget, its first refusal, and 100 % of a soft one (which refuses nothing).
    @Test func budgetAlertsAreSignedWebhookEventsSentOncePerWindow() async throws {
        try await WebhookTests.withReceiver(failures: 1) { receiver, receiverURL in
            try await WebhookTests.withControl(WebhookTests.fast) { fixture in
                let key = try await fixture.seed()
                try await Self.pricedRoute(fixture)
                let (_, hook) = try await fixture.admin.send(
                    .PUT,
                    "/admin/v1/tenants/acme/webhooks/alerts",
                    ["url": .string(receiverURL + "/hooks/alerts"), "events": ["budget.*"]]
                )
                let secret = try #require(hook["secret"]?.stringValue)
                let (_, hard) = try await fixture.admin.send(.PUT, "/admin/v1/tenants/acme/budgets/cap", ["period": "day", "limit_usd": 0.005])
                #expect(hard["alert_thresholds_percent"] == [50, 80, 100], "\(hard)")
                try await fixture.admin.send(
                    .PUT,
                    "/admin/v1/tenants/acme/budgets/watch",
                    ["period": "day", "limit_usd": 0.002, "mode": "soft", "alert_thresholds_percent": [100]]
                )
                let node = try await fixture.node(leaseReportInterval: .milliseconds(100))
                var statuses: [Int] = []
                for _ in 0..<8 { statuses.append(try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "paid")).status) }
                #expect(statuses == [200, 200, 200, 200, 200, 429, 429, 429], "\(statuses)")

                // Five events, the first delivered on its second attempt (the receiver fails once).
                #expect(
                    await eventually(timeout: .seconds(10)) {
                        Set(await receiver.calls.map { $0.headers["switchyard-event-id"] ?? "" }).count >= 5
                    }
                )
                try await Task.sleep(for: .seconds(1))
                let calls = await receiver.calls
                var seen: [String: JSONValue] = [:]
                for call in calls {
                    let signature = try #require(call.headers["switchyard-signature"])
                    #expect(WebhookSignature.verify(header: signature, body: call.body, secret: secret, now: WebhookTests.now))
                    seen[call.headers["switchyard-event-id"] ?? ""] = try JSONValue(parsing: call.body)
                }
                let events = seen.values.map { event in
                    let data = event["data"] ?? .null
                    let budget = data["budget"]?.stringValue ?? "?"
                    return "\(event["type"]?.stringValue ?? "?") \(budget) \(data["threshold_percent"]?.intValue.map(String.init) ?? "-")"
                }.sorted()
                #expect(
                    events == [
                        "budget.exhausted cap -", "budget.threshold cap 100", "budget.threshold cap 50", "budget.threshold cap 80",
                        "budget.threshold watch 100",
                    ],
                    "\(events)"
                )
                let full = seen.values.first { $0["data"]?["budget"] == "cap" && $0["data"]?["threshold_percent"] == 100 }
                #expect(full?["data"]?["spent_usd"] == 0.005 && full?["data"]?["limit_usd"] == 0.005, "\(String(describing: full))")
                #expect(full?["data"]?["window"]?.stringValue == UTCDay.string(unixSeconds: WebhookTests.now))
                let exhausted = seen.values.first { $0["type"] == "budget.exhausted" }
                #expect(exhausted?["data"]?["refused_request_usd"] == 0.001 && exhausted?["data"]?["remaining_usd"] == 0.0)
                await node.stop()
            }
        }
    }
}
