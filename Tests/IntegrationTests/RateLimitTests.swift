import AsyncHTTPClient
import Foundation
import NIOHTTP1
import SwitchyardCore
import SwitchyardTesting
import Testing

@testable import SwitchyardCLI
@testable import SwitchyardNode

/// Requests and tokens per minute, held across the fleet by the same leases as budgets: a key's
/// RPM over three nodes, a tenant's TPM counted at the tokens the provider reports, and provider
/// credentials' capacity spreading requests and sending the rest to the fallback.
@Suite(.serialized) struct RateLimitTests {
    /// Rate limits count per UTC minute: waits until the current minute has at least `needed`
    /// seconds left, so a test's requests all fall in one window.
    static func waitForFreshMinute(needed: Int = 25) async throws {
        let second = Int(Date().timeIntervalSince1970) % 60
        if 60 - second < needed { try await Task.sleep(for: .seconds(60 - second + 1)) }
    }

    @Test func keyRequestsPerMinuteHoldAcrossThreeNodes() async throws {
        try await Fixture.with { fixture in
            _ = try await fixture.seed()
            try await fixture.route("chat", "good")
            let (status, created) = try await fixture.admin.send(
                .POST,
                "/admin/v1/tenants/acme/keys",
                ["name": "limited", "rate_limits": ["rpm": 30]]
            )
            #expect(status == 201 && created["rate_limits"] == ["rpm": 30, "tpm": nil], "\(created)")
            let limited = try #require(created["secret"]?.stringValue)
            let (_, other) = try await fixture.admin.send(.POST, "/admin/v1/tenants/acme/keys", ["name": "unlimited"])
            let unlimited = try #require(other["secret"]?.stringValue)
            var nodes: [RunningServer] = []
            for _ in 0..<3 { nodes.append(try await fixture.node(leaseReportInterval: .milliseconds(100))) }
            try await BudgetTests.waitForNodes(fixture, count: 3)
            try await Self.waitForFreshMinute()
            try await fixture.resetMockCounts()

            // 60 clients, 120 requests, spread over three nodes: exactly 30 get through.
            let urls = nodes.map(\.url)
            let client = BudgetTests.loadClient(40)
            var retryAfter: [Int] = []
            let counts: [String: Int]
            do {
                counts = try await withThrowingTaskGroup(of: [(String, Int?)].self) { group in
                    for index in 0..<60 {
                        group.addTask {
                            var seen: [(String, Int?)] = []
                            for round in 0..<2 {
                                let node = urls[(index + round) % urls.count]
                                let response = try await callNode(client, node, key: limited, body: chatBody(model: "chat"))
                                let code = response.json["error"]?["code"]?.stringValue ?? "?"
                                let type = response.json["error"]?["type"]?.stringValue ?? "?"
                                seen.append(
                                    (
                                        response.status == 200 ? "200" : "\(response.status) \(code) \(type)",
                                        response.headers["retry-after"].flatMap { Int($0) }
                                    )
                                )
                            }
                            return seen
                        }
                    }
                    var counts: [String: Int] = [:]
                    for try await results in group {
                        for (status, wait) in results {
                            counts[status, default: 0] += 1
                            if let wait { retryAfter.append(wait) }
                        }
                    }
                    return counts
                }
            } catch {
                try? await client.shutdown()
                for node in nodes { await node.stop() }
                throw error
            }
            try? await client.shutdown()
            #expect(counts["200"] == 30, "\(counts)")
            #expect(counts["429 rate_limit_exceeded requests"] == 90, "\(counts)")
            #expect(try await fixture.mockCounts()["good-model"] == 30)
            // Retry-After points at the next minute.
            #expect(retryAfter.count == 90 && retryAfter.allSatisfy { (1...60).contains($0) }, "\(retryAfter.prefix(5))")
            // The limit is the key's: another key of the tenant is not affected.
            #expect(try await callNode(fixture.http, nodes[0].url, key: unlimited, body: chatBody(model: "chat")).status == 200)
            for node in nodes { await node.stop() }
        }
    }

    @Test func tenantTokensPerMinuteCountWhatTheProviderReports() async throws {
        try await Fixture.with { fixture in
            let first = try await fixture.seed()
            try await fixture.route("chat", "good")
            let (_, other) = try await fixture.admin.send(.POST, "/admin/v1/tenants/acme/keys", ["name": "second"])
            let second = try #require(other["secret"]?.stringValue)
            let (status, tenant) = try await fixture.admin.send(.PUT, "/admin/v1/tenants/acme", ["rate_limits": ["tpm": 100]])
            #expect(status == 200 && tenant["rate_limits"]?["tpm"] == 100, "\(tenant)")
            let node = try await fixture.node()
            try await Self.waitForFreshMinute()

            // Each request reserves its worst case, 8 + 5 prompt tokens ("hello") + 10 output
            // tokens = 23, and is charged what the mock reports. Alternate the tenant's two keys.
            let body = chatBody(model: "chat", extra: #","max_tokens":10"#)
            var served = 0
            var used: Int64 = 0
            var refusal: DataPlaneResponse?
            for index in 0..<40 {
                let response = try await callNode(fixture.http, node.url, key: index % 2 == 0 ? first : second, body: body)
                guard response.status == 200 else {
                    refusal = response
                    break
                }
                served += 1
                used += response.json["usage"]?["total_tokens"]?.intValue ?? 0
            }
            let perRequest = used / Int64(max(served, 1))
            #expect(perRequest > 0 && perRequest < 23)
            // Served while what was used plus the next request's worst case fits in 100.
            #expect(Int64(served) == (100 - 23) / perRequest + 1, "served \(served) at \(perRequest) tokens each")
            #expect(used <= 100)
            #expect(refusal?.status == 429)
            #expect(refusal?.json["error"]?["code"] == "rate_limit_exceeded" && refusal?.json["error"]?["type"] == "tokens")
            #expect(refusal?.json["error"]?["message"]?.stringValue?.contains("this tenant") == true, "\(refusal?.body ?? "")")
            await node.stop()
        }
    }

    @Test func credentialCapacitySpreadsRequestsAndSendsTheRestToTheFallback() async throws {
        try await Fixture.with { fixture in
            let key = try await fixture.seed()
            let (status, provider) = try await fixture.admin.send(
                .PUT,
                "/admin/v1/providers/capped",
                [
                    "kind": "openai_compatible", "base_url": .string(fixture.mock.url + "/v1"),
                    "credentials": [
                        ["name": "a", "key": "sk-cap-a", "capacity": ["rpm": 3]], ["name": "b", "key": "sk-cap-b", "capacity": ["rpm": 3]],
                    ],
                ]
            )
            #expect(status == 201 && provider["credentials"]?[0]?["capacity"] == ["rpm": 3, "tpm": nil], "\(provider)")
            try await fixture.admin.send(
                .PUT,
                "/admin/v1/models/capped",
                ["provider": "capped", "upstream_model": "good-model", "input_price_per_mtok": 1, "output_price_per_mtok": 2]
            )
            try await fixture.route("cap", "capped", fallbacks: ["good-b"])
            try await fixture.route("cap-only", "capped")
            let node = try await fixture.node()
            try await Self.waitForFreshMinute()

            // The mock answers "__echo_auth__" with the credential it was called with.
            var used: [String: Int] = [:]
            var fellBack = 0
            for _ in 0..<8 {
                let response = try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "cap", message: "__echo_auth__"))
                #expect(response.status == 200, "\(response.body)")
                if response.headers["x-switchyard-model"] == "good-b" {
                    fellBack += 1
                    #expect(response.headers["x-switchyard-fallback-reasons"]?.contains("at_capacity") == true)
                } else {
                    let text = response.json["choices"]?[0]?["message"]?["content"]?.stringValue ?? ""
                    used[text] = (used[text] ?? 0) + 1
                }
            }
            #expect(used == ["Bearer sk-cap-a": 3, "Bearer sk-cap-b": 3], "\(used)")
            #expect(fellBack == 2)
            // Without a fallback the client hears the provider is busy, and the provider was not called.
            try await fixture.resetMockCounts()
            let busy = try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "cap-only"))
            #expect(busy.status == 429 && busy.json["error"]?["code"] == "upstream_rate_limited", "\(busy.body)")
            #expect(try await fixture.mockCounts()["good-model"] == nil)
            await node.stop()
        }
    }

    /// A key's settings change in place (PATCH): new rate limits reach the nodes; what is not sent stays.
    @Test func keyRateLimitsChangeInPlace() async throws {
        try await Fixture.with { fixture in
            _ = try await fixture.seed()
            try await fixture.route("chat", "good")
            let (_, created) = try await fixture.admin.send(
                .POST,
                "/admin/v1/tenants/acme/keys",
                ["name": "metered", "labels": ["team": "search"], "rate_limits": ["rpm": 2]]
            )
            let secret = try #require(created["secret"]?.stringValue)
            let id = try #require(created["id"]?.stringValue)
            let node = try await fixture.node()
            try await Self.waitForFreshMinute()
            var statuses: [Int] = []
            for _ in 0..<3 { statuses.append(try await callNode(fixture.http, node.url, key: secret, body: chatBody(model: "chat")).status) }
            #expect(statuses == [200, 200, 429])

            let (status, patched) = try await fixture.admin.send(.PATCH, "/admin/v1/tenants/acme/keys/\(id)", ["rate_limits": ["rpm": 5]])
            #expect(status == 200 && patched["rate_limits"] == ["rpm": 5, "tpm": nil], "\(patched)")
            #expect(patched["name"] == "metered" && patched["labels"] == ["team": "search"], "what is not sent stays: \(patched)")
            #expect(patched["id"]?.stringValue == id)
            // The same secret keeps working, now with three more requests this minute.
            #expect(
                await eventually(timeout: .seconds(5)) {
                    try await callNode(fixture.http, node.url, key: secret, body: chatBody(model: "chat")).status == 200
                }
            )
            // Unchanged: no new config version.
            let version = try await fixture.configVersion()
            try await fixture.admin.send(.PATCH, "/admin/v1/tenants/acme/keys/\(id)", ["rate_limits": ["rpm": 5]])
            #expect(try await fixture.configVersion() == version)
            let (bad, answer) = try await fixture.admin.send(.PATCH, "/admin/v1/tenants/acme/keys/\(id)", ["rpm": 5], allow: [422])
            #expect(bad == 422 && answer["error"]?["field"] == "rpm", "\(answer)")
            try await fixture.admin.send(.DELETE, "/admin/v1/tenants/acme/keys/\(id)")
            let (revoked, _) = try await fixture.admin.send(.PATCH, "/admin/v1/tenants/acme/keys/\(id)", ["name": "again"], allow: [409])
            #expect(revoked == 409)
            await node.stop()
        }
    }

    @Test func badRateLimitsAreRefusedWithTheField() async throws {
        try await Fixture.with { fixture in
            _ = try await fixture.seed()
            let cases: [(String, String, JSONValue, String)] = [
                ("PUT", "/admin/v1/tenants/acme", ["rate_limits": ["rpm": 0]], "rate_limits.rpm"),
                ("PUT", "/admin/v1/tenants/acme", ["rate_limits": ["rps": 5]], "rate_limits.rps"),
                ("PUT", "/admin/v1/tenants/acme", ["rate_limits": 5], "rate_limits"),
                ("POST", "/admin/v1/tenants/acme/keys", ["rate_limits": ["tpm": 1.5]], "rate_limits.tpm"),
                (
                    "PUT", "/admin/v1/providers/capped",
                    [
                        "kind": "openai", "base_url": "https://api.example.com/v1",
                        "credentials": [["name": "a", "key": "sk-a", "capacity": ["rpm": -1]]],
                    ],
                    "credentials[0].capacity.rpm"
                ),
            ]
            for (method, path, body, field) in cases {
                let (status, answer) = try await fixture.admin.send(method == "PUT" ? .PUT : .POST, path, body, allow: [422])
                #expect(status == 422 && answer["error"]?["field"]?.stringValue == field, "\(method) \(path): \(answer)")
            }
            // Nothing was half-written.
            let (_, tenant) = try await fixture.admin.send(.GET, "/admin/v1/tenants/acme")
            #expect(tenant["rate_limits"] == ["rpm": nil, "tpm": nil])
        }
    }

    /// In a minute window's last seconds, a lease in use gets its successor for the next minute,
    /// so requests at the turn of the minute find room in memory.
    @Test func minuteLeasesInUseAreFetchedAheadOfTheNextMinute() {
        let boundary = Date(timeIntervalSince1970: 1_800_000_000)  // a whole minute
        let quota = RateLimits(rpm: 60).quotas(scope: "key:k1")[0]
        let idleQuota = RateLimits(rpm: 60).quotas(scope: "key:k2")[0]
        var daily = BudgetConfig(name: "daily", period: .day, limitMicros: 1_000_000)
        daily.metric = .usd
        let instant = ContinuousClock.now
        func state(at now: Date) -> [BudgetLedger.Key: BudgetLedger.Lease] {
            var busy = BudgetLedger.Lease(config: quota, lastUsed: instant)
            busy.unit = 1
            busy.recent = 5
            var idle = BudgetLedger.Lease(config: idleQuota, lastUsed: instant)
            idle.unit = 1
            var day = BudgetLedger.Lease(config: daily, lastUsed: instant)
            day.recent = 5_000
            return [
                .init(tenant: "acme", budget: quota.name, window: UTCDay.minute(at: now).id): busy,
                .init(tenant: "acme", budget: idleQuota.name, window: UTCDay.minute(at: now).id): idle,
                .init(tenant: "acme", budget: "daily", window: daily.window(at: now).id): day,
            ]
        }
        let early = boundary.addingTimeInterval(-10)
        var leases = state(at: early)
        #expect(BudgetLedger.prefetch(&leases, now: early, instant: instant, units: 8).isEmpty)

        let late = boundary.addingTimeInterval(-2)
        leases = state(at: late)
        let items = BudgetLedger.prefetch(&leases, now: late, instant: instant, units: 8)
        #expect(items.count == 1)
        let next = UTCDay.minute(at: boundary).id
        #expect(items.first?.key == .init(tenant: "acme", budget: quota.name, window: next))
        #expect(UTCDay.minute(at: late).id == "2027-01-15T07:59" && next == "2027-01-15T08:00")
        // Headroom for two report intervals at the recent rate (5 a round), or 8 requests.
        #expect(items.first?.item.wantMicros == 10 && items.first?.item.needMicros == 0)
        #expect(leases[.init(tenant: "acme", budget: quota.name, window: next)] != nil)
        // Asked once: the next round does not ask again.
        #expect(BudgetLedger.prefetch(&leases, now: late, instant: instant, units: 8).isEmpty)
    }
}
