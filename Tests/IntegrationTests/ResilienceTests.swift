import AsyncHTTPClient
import Foundation
import NIOHTTP1
import SwitchyardCLI
import SwitchyardCore
import SwitchyardTesting
import Testing

@testable import SwitchyardNode

/// The executor against the mock provider: the fault matrix, retries with backoff and
/// `Retry-After`, the retry budget, the circuit breaker and credential rotation. Each case counts
/// the upstream requests the mock received.
@Suite(.serialized) struct ResilienceTests {
    struct Case: Sendable, CustomStringConvertible {
        var failing: String
        var upstream: String
        var stream: Bool
        var retries: Int
        /// Upstream calls the failing target should get.
        var calls: Int
        /// Calls in `x-switchyard-attempts` (the failing target's tries plus the fallback).
        var attempts: Int
        var reason: String
        /// The longest the client may wait, from the route's timeouts and backoff.
        var bound: Duration
        var description: String { "\(self.failing) stream=\(self.stream)" }
    }

    /// first_token_ms 400, total_ms 1500, backoff ≤ 100 ms, fallback `good-b` on another provider.
    static let matrix: [Case] = [
        Case(failing: "fail500", upstream: "fault-500", stream: false, retries: 2, calls: 3, attempts: 4, reason: "status_500", bound: .seconds(3)),
        Case(failing: "fail500", upstream: "fault-500", stream: true, retries: 1, calls: 2, attempts: 3, reason: "status_500", bound: .seconds(3)),
        // A timeout already spent the attempt's time: no retry of the same target.
        Case(failing: "hang", upstream: "fault-hang", stream: false, retries: 2, calls: 1, attempts: 2, reason: "timeout", bound: .seconds(4)),
        Case(failing: "hang", upstream: "fault-hang", stream: true, retries: 2, calls: 1, attempts: 2, reason: "timeout", bound: .seconds(3)),
        // Nobody listens: the connect error is retried once, then the fallback serves.
        Case(failing: "refused", upstream: "", stream: false, retries: 1, calls: 0, attempts: 3, reason: "connect_error", bound: .seconds(3)),
        // The connection is reset before an answer: retried once, then the fallback serves.
        Case(failing: "reset", upstream: "fault-reset", stream: true, retries: 1, calls: 2, attempts: 3, reason: "", bound: .seconds(3)),
        // The first token takes 900 ms, over first_token_ms (400 ms).
        Case(
            failing: "slowstart",
            upstream: "latency-900:slowstart",
            stream: true,
            retries: 1,
            calls: 1,
            attempts: 2,
            reason: "timeout",
            bound: .seconds(3)
        ),
    ]

    @Test(arguments: Self.matrix)
    func faultMatrix(_ testCase: Case) async throws {
        try await Fixture.with { fixture in
            let key = try await fixture.seed()
            try await fixture.admin.send(
                .PUT,
                "/admin/v1/models/slowstart",
                ["provider": "mock", "upstream_model": "latency-900:slowstart", "input_price_per_mtok": 1, "output_price_per_mtok": 1]
            )
            try await fixture.route(
                "chat",
                testCase.failing,
                fallbacks: ["good-b"],
                firstTokenMs: 400,
                totalMs: 1_500,
                retry: ["max_retries": .int(Int64(testCase.retries)), "initial_backoff_ms": 50, "max_backoff_ms": 100]
            )
            try await fixture.route("probe", "good")
            let node = try await fixture.node()
            #expect(await fixture.waitForRoute(node, key: key, alias: "probe"))
            try await fixture.resetMockCounts()
            let started = ContinuousClock.now
            let response = try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "chat", stream: testCase.stream))
            let elapsed = started.duration(to: .now)
            #expect(response.status == 200)
            #expect(response.headers["x-switchyard-model"] == "good-b")
            #expect(response.headers["x-switchyard-provider"] == "mock-b")
            #expect(response.headers["x-switchyard-fallback-reasons"]?.hasPrefix("\(testCase.failing):\(testCase.reason)") == true)
            #expect(response.headers["x-switchyard-attempts"] == String(testCase.attempts))
            #expect(elapsed < testCase.bound, "took \(elapsed)")
            let counts = try await fixture.mockCounts()
            if !testCase.upstream.isEmpty { #expect(counts[testCase.upstream] == testCase.calls) }
            #expect(counts["good-b-model"] == 1)
            if testCase.stream {
                #expect(response.body.hasSuffix("data: [DONE]\n\n"))
                #expect(!response.body.contains("stream_interrupted"))
            }
            await node.stop()
        }
    }

    /// A failure after the first bytes reached the client cannot fall back: the stream ends with
    /// an error event, and the fallback model's output is never spliced in.
    @Test func midStreamCutEndsWithAnErrorEventAndNoSplice() async throws {
        try await Fixture.with(tokenLatencyMs: 5) { fixture in
            let key = try await fixture.seed()
            try await fixture.route("chat", "cut", fallbacks: ["good-b"], firstTokenMs: 1_000, totalMs: 3_000)
            let node = try await fixture.node()
            #expect(
                await eventually { try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "chat", stream: true)).status == 200 }
            )
            try await fixture.resetMockCounts()
            let started = ContinuousClock.now
            let response = try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "chat", stream: true))
            #expect(started.duration(to: .now) < .seconds(4))
            #expect(response.status == 200)
            #expect(response.body.contains("stream_interrupted"))
            #expect(!response.body.contains("[DONE]"))
            #expect(response.headers["x-switchyard-model"] == "cut")
            #expect(try await fixture.mockCounts()["good-b-model"] == nil)
            await node.stop()
        }
    }

    /// A stream that opens (200, a role chunk or `message_start`) and then errors before any
    /// content still falls back: nothing reached the client yet.
    @Test(arguments: ["streamerr", "claude-overloaded"])
    func streamsThatFailBeforeAnyOutputFallBack(failing: String) async throws {
        try await Fixture.with { fixture in
            let key = try await fixture.seed()
            try await fixture.route("chat", failing, fallbacks: ["good-b"])
            let node = try await fixture.node()
            #expect(await fixture.waitForRoute(node, key: key, alias: "chat", timeout: .seconds(5)))
            let response = try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "chat", stream: true))
            #expect(response.status == 200)
            #expect(response.headers["x-switchyard-model"] == "good-b")
            #expect(response.headers["x-switchyard-fallback-reasons"]?.hasPrefix("\(failing):interrupted") == true)
            #expect(!response.body.contains("error"))
            #expect(response.body.hasSuffix("data: [DONE]\n\n"))
            await node.stop()
        }
    }

    /// `request_ms` bounds the whole request: a hung primary uses it up, and the client gets a
    /// clean 504 instead of waiting for the fallback too.
    @Test func requestDeadlineBoundsTheWholePlan() async throws {
        try await Fixture.with { fixture in
            let key = try await fixture.seed()
            try await fixture.route(
                "chat",
                spec: [
                    "default": ["model": "hang"], "fallbacks": [["model": "good-b"]],
                    "timeouts": ["total_ms": 5_000, "request_ms": 600], "retry": ["max_retries": 0],
                ]
            )
            try await fixture.route("probe", "good")
            let node = try await fixture.node()
            #expect(await fixture.waitForRoute(node, key: key, alias: "probe"))
            try await fixture.resetMockCounts()
            let started = ContinuousClock.now
            let response = try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "chat"))
            let elapsed = started.duration(to: .now)
            #expect(response.status == 504)
            #expect(response.json["error"]?["code"] == "upstream_timeout")
            #expect(elapsed >= .milliseconds(550) && elapsed < .seconds(3), "took \(elapsed)")
            #expect(try await fixture.mockCounts()["good-b-model"] == nil)
            await node.stop()
        }
    }

    @Test func retryAfterIsHonouredOrTheRequestMovesOn() async throws {
        try await Fixture.with { fixture in
            let key = try await fixture.seed()
            for (name, upstream) in [("wait1", "fault-429:retry-after-1:wait1"), ("wait5", "fault-429:retry-after-5:wait5")] {
                try await fixture.admin.send(
                    .PUT,
                    "/admin/v1/providers/rl-\(name)",
                    ["kind": "openai_compatible", "base_url": .string(fixture.mock.url + "/v1"), "api_key": "sk-any"]
                )
                try await fixture.admin.send(
                    .PUT,
                    "/admin/v1/models/\(name)",
                    ["provider": .string("rl-\(name)"), "upstream_model": .string(upstream), "input_price_per_mtok": 1, "output_price_per_mtok": 1]
                )
            }
            let retry: JSONValue = ["max_retries": 1, "initial_backoff_ms": 10, "max_backoff_ms": 2_000]
            try await fixture.route("short", "wait1", fallbacks: ["good-b"], retry: retry)
            try await fixture.route("long", "wait5", fallbacks: ["good-b"], retry: retry)
            let node = try await fixture.node()
            #expect(await fixture.waitForRoute(node, key: key, alias: "short", timeout: .seconds(10)))
            try await fixture.resetMockCounts()

            // Retry-After: 1 s fits in max_backoff_ms: the node waits at least that long, retries once, then falls back.
            var started = ContinuousClock.now
            var response = try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "short"))
            var elapsed = started.duration(to: .now)
            #expect(response.status == 200)
            #expect(elapsed >= .seconds(1))
            #expect(elapsed < .seconds(4))
            #expect(try await fixture.mockCounts()["fault-429:retry-after-1:wait1"] == 2)

            // Retry-After: 5 s does not: no waiting, straight to the fallback, and the credential cools down.
            started = ContinuousClock.now
            response = try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "long"))
            elapsed = started.duration(to: .now)
            #expect(response.status == 200)
            #expect(response.headers["x-switchyard-model"] == "good-b")
            #expect(elapsed < .seconds(1))
            #expect(try await fixture.mockCounts()["fault-429:retry-after-5:wait5"] == 1)
            response = try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "long"))
            #expect(response.headers["x-switchyard-fallback-reasons"]?.hasPrefix("wait5:credentials_cooling") == true)
            #expect(try await fixture.mockCounts()["fault-429:retry-after-5:wait5"] == 1, "a cooling credential is not used")
            await node.stop()
        }
    }

    /// Under a sustained outage of one provider, retries stay within the budget: at most
    /// `budget_min_retries + budget_ratio x requests`, instead of `max_retries x requests`.
    @Test func retryBudgetBoundsUpstreamCallsDuringAnOutage() async throws {
        try await Fixture.with { fixture in
            let key = try await fixture.seed()
            try await fixture.route(
                "chat",
                "fail500",
                fallbacks: ["good-b"],
                retry: ["max_retries": 3, "initial_backoff_ms": 1, "max_backoff_ms": 2, "budget_ratio": 0.1, "budget_min_retries": 2]
            )
            try await fixture.route("probe", "good")
            // A breaker that never opens, so only the budget limits the retries.
            let node = try await fixture.node(breakerThreshold: 1_000)
            #expect(await fixture.waitForRoute(node, key: key, alias: "probe"))
            try await fixture.resetMockCounts()
            let requests = 40
            for _ in 0..<requests {
                let response = try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "chat"))
                #expect(response.status == 200)
                #expect(response.headers["x-switchyard-model"] == "good-b")
            }
            let counts = try await fixture.mockCounts()
            let failing = counts["fault-500", default: 0]
            // 40 first calls + at most 2 + 0.1 x 40 = 6 retries; without a budget it would be 160.
            #expect(failing >= requests)
            #expect(failing <= requests + 6, "upstream calls to the failing provider: \(failing)")
            #expect(counts["good-b-model"] == requests)
            await node.stop()
        }
    }

    @Test func circuitOpensAfterConsecutiveFailuresAndProbesLater() async throws {
        try await Fixture.with { fixture in
            let key = try await fixture.seed()
            try await fixture.route("chat", "fail500", fallbacks: ["good-b"])
            try await fixture.route("probe", "good")
            let node = try await fixture.node(breakerThreshold: 3, breakerOpenFor: .milliseconds(800))
            #expect(await fixture.waitForRoute(node, key: key, alias: "probe"))
            try await fixture.resetMockCounts()
            for _ in 0..<3 { _ = try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "chat")) }
            #expect(try await fixture.mockCounts()["fault-500"] == 3)
            // Open: the failing target is skipped without a call.
            for _ in 0..<5 {
                let response = try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "chat"))
                #expect(response.status == 200)
                #expect(response.headers["x-switchyard-fallback-reasons"] == "fail500:circuit_open")
                #expect(response.headers["x-switchyard-attempts"] == "1")
            }
            #expect(try await fixture.mockCounts()["fault-500"] == 3)
            // After the open period one probe goes through; it fails, so the circuit opens again.
            try await Task.sleep(for: .milliseconds(900))
            _ = try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "chat"))
            _ = try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "chat"))
            #expect(try await fixture.mockCounts()["fault-500"] == 4)
            // Other targets of the same provider are not affected.
            let other = try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "probe"))
            #expect(other.headers["x-switchyard-model"] == "good")
            await node.stop()
        }
    }

    @Test func refusedOrLimitedCredentialsCoolDownAndOthersTakeOver() async throws {
        try await Fixture.with { fixture in
            let key = try await fixture.seed()
            let (status, provider) = try await fixture.admin.send(
                .PUT,
                "/admin/v1/providers/multi",
                [
                    "kind": "openai_compatible", "base_url": .string(fixture.mock.url + "/v1"),
                    "credentials": [
                        ["name": "old", "key": "sk-mock-revoked-1", "weight": 5], ["name": "busy", "key": "sk-mock-limited-1", "weight": 5],
                        ["name": "fresh", "key": "sk-fresh", "weight": 1],
                    ],
                ]
            )
            #expect(status == 201)
            #expect(provider["credentials"]?.arrayValue?.count == 3)
            #expect(!provider.serializedText.contains("sk-fresh"), "keys are never returned")
            try await fixture.admin.send(
                .PUT,
                "/admin/v1/models/multi-model",
                ["provider": "multi", "upstream_model": "retry-after-30:multi-model", "input_price_per_mtok": 1, "output_price_per_mtok": 1]
            )
            try await fixture.route("chat", "multi-model", retry: ["max_retries": 0])
            let node = try await fixture.node()
            #expect(await fixture.waitForRoute(node, key: key, alias: "chat", timeout: .seconds(5)))
            // Whatever the weighted pick, every request is served; each bad key is tried at most
            // once, then cools down (401: 60 s; 429 with Retry-After 30 s), so the fresh key serves.
            var attempts = 0
            for _ in 0..<12 {
                let response = try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "chat"))
                #expect(response.status == 200)
                attempts += Int(response.headers["x-switchyard-attempts"] ?? "") ?? 99
            }
            #expect(attempts <= 12 + 2, "attempts: \(attempts)")
            await node.stop()
        }
    }

    // MARK: Breaker and budget state machines (no network)

    @Test func breakerStateMachine() {
        let resilience = Resilience(settings: .init(breakerThreshold: 2, breakerOpenFor: .seconds(10)))
        let start = ContinuousClock.now
        #expect(resilience.admit("t", now: start) == .allowed)
        resilience.record("t", healthy: false, now: start)
        #expect(resilience.admit("t", now: start) == .allowed)
        resilience.record("t", healthy: false, now: start)
        #expect(resilience.admit("t", now: start + .seconds(1)) == .rejected)
        #expect(resilience.admit("t", now: start + .seconds(11)) == .probe)
        #expect(resilience.admit("t", now: start + .seconds(12)) == .rejected, "one probe at a time")
        resilience.releaseProbe("t")
        #expect(resilience.admit("t", now: start + .seconds(12)) == .probe, "a probe that said nothing lets the next one through")
        resilience.record("t", healthy: true, now: start + .seconds(12))
        #expect(resilience.admit("t", now: start + .seconds(12)) == .allowed, "a good probe closes the circuit")
        // A success between failures resets the count.
        resilience.record("u", healthy: false, now: start)
        resilience.record("u", healthy: true, now: start)
        resilience.record("u", healthy: false, now: start)
        #expect(resilience.admit("u", now: start) == .allowed)
    }

    @Test func retryBudgetWindow() {
        let resilience = Resilience(settings: .init(budgetWindow: .seconds(10)))
        let policy = RetryPolicy(maxRetries: 3, budgetRatio: 0.5, budgetMinRetries: 1)
        let start = ContinuousClock.now
        for _ in 0..<4 { resilience.countRequest("m", now: start) }
        // 1 + 0.5 x 4 = 3 retries.
        #expect((0..<5).map { _ in resilience.allowRetry("m", policy: policy, now: start) } == [true, true, true, false, false])
        // Two windows later the budget is fresh again.
        #expect(resilience.allowRetry("m", policy: policy, now: start + .seconds(25)))
    }

    @Test func backoffGrowsWithJitterAndHonoursRetryAfter() {
        let policy = RetryPolicy(maxRetries: 5, initialBackoffMs: 100, maxBackoffMs: 1_000)
        for retry in 0..<5 {
            let cap = min(1_000, 100 << retry)
            let delay = Executor.backoff(retry: retry, policy: policy, retryAfter: nil)!
            #expect(delay >= .milliseconds(cap / 2) && delay <= .milliseconds(cap))
        }
        #expect(Executor.backoff(retry: 0, policy: policy, retryAfter: .milliseconds(700))! >= .milliseconds(700))
        #expect(Executor.backoff(retry: 0, policy: policy, retryAfter: .seconds(2)) == nil)
        var headers = HTTPHeaders()
        headers.add(name: "retry-after", value: "3")
        #expect(Executor.retryAfter(headers) == .seconds(3))
        headers.add(name: "retry-after-ms", value: "250")
        #expect(Executor.retryAfter(headers) == .milliseconds(250))
        // An absurd header must not overflow (it would crash the node): capped at a day.
        var absurd = HTTPHeaders()
        absurd.add(name: "retry-after", value: "1e20")
        #expect(Executor.retryAfter(absurd) == .seconds(86_400))
        absurd.add(name: "retry-after-ms", value: "1e300")
        #expect(Executor.retryAfter(absurd) == .seconds(86_400))
    }

    @Test func exhaustedAnswersWithWhatTheAttemptsReallyMet() {
        let decision = DecisionHeaders(traceID: "t")
        // A 503 then a target that cannot take the request: the 503 decides, not a 400.
        #expect(Executor.exhausted([(.status(503), "a"), (.unsupported("no embeddings"), "b")], decision: decision).status == 502)
        #expect(Executor.exhausted([(.unsupported("no embeddings"), "b")], decision: decision).status == 400)
        #expect(Executor.exhausted([(.timeout("t"), "a"), (.circuitOpen, "b")], decision: decision).status == 504)
        #expect(Executor.exhausted([(.circuitOpen, "a")], decision: decision).status == 503)
        #expect(Executor.exhausted([(.status(429), "a")], decision: decision).status == 429)
        #expect(Executor.exhausted([(.misconfigured(401), "a")], decision: decision).code == "upstream_misconfigured")
    }
}

extension JSONValue {
    var serializedText: String { String(decoding: self.serialized(), as: UTF8.self) }
}
