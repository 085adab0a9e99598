import ArgumentParser
import Foundation
import NIOHTTP1
import SwitchyardCore
import SwitchyardTesting
import Testing

@testable import SwitchyardCLI

/// Canaries on a route: the candidate takes its step's share of the default branch on the nodes
/// (sticky per user), and pause, abort and promote work by hand.
@Suite(.serialized) struct CanaryTests {
    /// The variant and model of `count` requests from distinct users.
    static func spread(_ fixture: Fixture, _ node: RunningServer, key: String, count: Int) async throws -> [String: Int] {
        var seen: [String: Int] = [:]
        for index in 0..<count {
            let response = try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "chat", extra: #","user":"user-\#(index)""#))
            #expect(response.status == 200, "\(response.body)")
            let label = "\(response.headers["x-switchyard-variant"] ?? "-") \(response.headers["x-switchyard-model"] ?? "-")"
            seen[label] = (seen[label] ?? 0) + 1
        }
        return seen
    }

    @Test func canaryTakesItsShareAndEndsByHand() async throws {
        try await Fixture.with { fixture in
            let key = try await fixture.seed()
            try await fixture.route("chat", "good")
            let node = try await fixture.node()
            let base = "/admin/v1/tenants/acme/routes/chat/canary"
            let (status, canary) = try await fixture.admin.send(
                .PUT,
                base,
                ["candidate": ["model": "good-b"], "steps": [["percent": 30], ["percent": 100]]]
            )
            #expect(status == 201, "\(canary)")
            #expect(canary["state"] == "running" && canary["percent"] == 30.0 && canary["step"] == 0, "\(canary)")
            #expect(canary["guardrails"] == [["kind": "error", "tolerance": 0.2]] && canary["alpha"] == 0.05)
            #expect(canary["decisions"]?[0]?["outcome"] == "started")
            let text = CanaryCommand.describe(canary)
            #expect(text.contains("steps: [30 %] → 100 %") && text.contains("guardrails: error (tolerance 20 %)"), "\(text)")
            let (again, _) = try await fixture.admin.send(.PUT, base, ["candidate": ["model": "good-b"]], allow: [409])
            #expect(again == 409, "one active canary per route")

            try await BudgetTests.waitForNodes(fixture, count: 1)
            let seen = try await Self.spread(fixture, node, key: key, count: 200)
            let candidate = seen["candidate good-b"] ?? 0
            #expect(candidate + (seen["baseline good"] ?? 0) == 200, "\(seen)")
            #expect((30...90).contains(candidate), "about 30 % of 200 users: \(seen)")
            // Sticky: a user stays on its variant.
            let first = try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "chat", extra: #","user":"user-7""#))
            let second = try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "chat", extra: #","user":"user-7""#))
            #expect(first.headers["x-switchyard-variant"] == second.headers["x-switchyard-variant"])

            // Paused: the split stays. Aborted: the candidate gets nothing.
            let (_, paused) = try await fixture.admin.send(.POST, base + "/pause", ["reason": "looking into it"])
            #expect(paused["state"] == "paused" && paused["percent"] == 30.0)
            let (_, aborted) = try await fixture.admin.send(.POST, base + "/abort")
            #expect(aborted["state"] == "aborted" && aborted["percent"] == 0.0 && aborted["ended_at"]?.stringValue != nil)
            #expect(aborted["decisions"]?.arrayValue?.compactMap { $0["outcome"]?.stringValue } == ["started", "paused", "aborted"])
            #expect(aborted["decisions"]?[1]?["reason"] == "looking into it")
            try await BudgetTests.waitForNodes(fixture, count: 1)
            let afterAbort = try await Self.spread(fixture, node, key: key, count: 20)
            #expect(afterAbort == ["good good": 20], "\(afterAbort)")
            let (none, _) = try await fixture.admin.send(.POST, base + "/abort", nil, allow: [404])
            #expect(none == 404)

            // Promoted (through the CLI): the candidate becomes the route's default, in a new revision.
            let connection = ["--admin-url", fixture.control.url, "--admin-token", fixture.secrets.adminToken, "--env-file", "/nonexistent"]
            try await CanaryCommand.StartCommand.parse(["chat", "--tenant", "acme", "--model", "good-b", "--steps", "10,100"] + connection).run()
            try await CanaryCommand.ActionCommand<CanaryCommand.Promote>.parse(["chat", "--tenant", "acme", "--reason", "looks good"] + connection)
                .run()
            let (_, promoted) = try await fixture.admin.send(.GET, base)
            #expect(promoted["state"] == "promoted" && promoted["steps"]?.arrayValue?.count == 2, "\(promoted)")
            let (_, route) = try await fixture.admin.send(.GET, "/admin/v1/tenants/acme/routes/chat")
            #expect(
                route["revision"] == 2 && route["default"]?["model"] == "good-b"
                    && route["comment"]?.stringValue?.hasPrefix("promoted canary") == true
            )
            try await BudgetTests.waitForNodes(fixture, count: 1)
            let afterPromote = try await Self.spread(fixture, node, key: key, count: 10)
            #expect(afterPromote == ["good-b good-b": 10], "\(afterPromote)")
            let (_, audit) = try await fixture.admin.send(.GET, "/admin/v1/audit?object_type=canary")
            #expect(audit["data"]?.arrayValue?.compactMap { $0["action"]?.stringValue }.sorted() == ["abort", "pause", "promote", "start", "start"])
            await node.stop()
        }
    }

    /// A candidate that fails every request is rolled back by the analysis within a handful of
    /// its requests: the decision carries the evidence, and the nodes stop sending it traffic.
    @Test func failingCandidateIsRolledBackByItself() async throws {
        try await Fixture.with { fixture in
            let key = try await fixture.seed()
            try await fixture.route("chat", "good", fallbacks: ["good-b"])
            let node = try await fixture.node()
            let base = "/admin/v1/tenants/acme/routes/chat/canary"
            try await fixture.admin.send(
                .PUT,
                base,
                [
                    "candidate": ["model": "fail500"], "steps": [["percent": 50, "min_duration_s": 0, "min_requests": 100_000]],
                    "guardrails": [["kind": "error"], ["kind": "latency", "bound_ms": 60_000]],
                ]
            )
            try await BudgetTests.waitForNodes(fixture, count: 1)
            var candidateRequests = 0
            var rolledBack = false
            for index in 0..<200 {
                let response = try await callNode(
                    fixture.http,
                    node.url,
                    key: key,
                    body: chatBody(model: "chat", extra: #","user":"user-\#(index)""#)
                )
                // The fallback rescues the users of the failing candidate.
                #expect(response.status == 200)
                if response.headers["x-switchyard-variant"] == "candidate" { candidateRequests += 1 }
                if index % 10 == 9, try await fixture.admin.send(.GET, base).1["state"] == "rolled_back" {
                    rolledBack = true
                    break
                }
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(rolledBack, "still running after \(candidateRequests) candidate requests")
            let (_, canary) = try await fixture.admin.send(.GET, base)
            let decision = try #require(canary["decisions"]?.arrayValue?.last)
            #expect(decision["outcome"] == "rolled_back" && decision["actor"] == "analysis", "\(decision)")
            #expect(decision["reason"]?.stringValue?.hasPrefix("error: candidate") == true, "\(decision)")
            let error = try #require(decision["evidence"]?["guardrails"]?[0])
            #expect(error["kind"] == "error" && (error["candidate"]?["bad"]?.intValue ?? 0) >= 2, "\(error)")
            // Bonferroni: two guardrails share α = 0.05, so each rolls back at e ≥ 40.
            #expect(error["threshold"] == 40.0 && (error["e_value"].flatMap(ApplyCommand.number) ?? 0) >= 40)
            #expect(canary["evidence"]?.arrayValue?.count == 2 && canary["percent"] == 0.0)
            let status = CanaryCommand.describe(canary)
            #expect(status.contains("rolled_back") && status.contains("GUARDRAIL") && status.contains("ROLL BACK AT"), "\(status)")
            // The nodes get the rollback: everything goes to the baseline.
            try await BudgetTests.waitForNodes(fixture, count: 1)
            #expect(try await Self.spread(fixture, node, key: key, count: 10) == ["good good": 10])
            await node.stop()
        }
    }

    /// Feedback sent to any node is attributed to the variant that served the request (its trace
    /// id says which); negative feedback on the candidate alone rolls it back.
    @Test func negativeFeedbackOnTheCandidateRollsItBack() async throws {
        try await Fixture.with { fixture in
            let key = try await fixture.seed()
            try await fixture.route("chat", "good")
            let nodes = [try await fixture.node(), try await fixture.node()]
            let base = "/admin/v1/tenants/acme/routes/chat/canary"
            try await fixture.admin.send(
                .PUT,
                base,
                [
                    "candidate": ["model": "good-b"], "steps": [["percent": 50, "min_duration_s": 0, "min_requests": 100_000]],
                    "guardrails": [["kind": "error"], ["kind": "negative_feedback"]],
                ]
            )
            try await BudgetTests.waitForNodes(fixture, count: 2)
            // Bad input first: an OpenAI-shaped 400 naming the field.
            let bad = try await callNode(fixture.http, nodes[0].url, key: key, body: #"{"trace_id": "nope", "score": -1}"#, path: "/v1/feedback")
            #expect(bad.status == 400 && bad.json["error"]?["param"] == "trace_id", "\(bad.body)")
            let noScore = try await callNode(
                fixture.http,
                nodes[0].url,
                key: key,
                body: #"{"trace_id": "0123456789abcdef0123456789abcdef", "score": 3}"#,
                path: "/v1/feedback"
            )
            #expect(noScore.status == 400 && noScore.json["error"]?["param"] == "score")
            var rolledBack = false
            var attributed = 0
            for index in 0..<120 {
                let served = try await callNode(
                    fixture.http,
                    nodes[index % 2].url,
                    key: key,
                    body: chatBody(model: "chat", extra: #","user":"u-\#(index)""#)
                )
                let trace = try #require(served.headers["x-switchyard-trace-id"])
                let candidate = served.headers["x-switchyard-variant"] == "candidate"
                // Users hate the candidate's answers and like the baseline's; the feedback goes to the other node.
                let feedback = try await callNode(
                    fixture.http,
                    nodes[(index + 1) % 2].url,
                    key: key,
                    body: #"{"trace_id": "\#(trace)", "label": "\#(candidate ? "negative" : "positive")"}"#,
                    path: "/v1/feedback"
                )
                #expect(feedback.status == 202, "\(feedback.body)")
                // Attributed while the canary runs (after a rollback the trace's canary is gone).
                if feedback.json["attributed"] == true { attributed += 1 }
                if index % 10 == 9, try await fixture.admin.send(.GET, base).1["state"] == "rolled_back" {
                    rolledBack = true
                    break
                }
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(rolledBack)
            #expect(attributed >= 3)
            let (_, canary) = try await fixture.admin.send(.GET, base)
            #expect(canary["decisions"]?.arrayValue?.last?["reason"]?.stringValue?.hasPrefix("negative_feedback") == true, "\(canary)")
            #expect(canary["evidence"]?[0]?["candidate"]?["bad"] == 0, "no errors, only feedback")
            for node in nodes { await node.stop() }
        }
    }

    /// Two control-plane replicas: when the one that started the canary goes away, the other
    /// keeps judging it and rolls the failing candidate back.
    @Test func anotherReplicaJudgesWhenOneIsGone() async throws {
        try await Fixture.with { fixture in
            let key = try await fixture.seed()
            try await fixture.route("chat", "good", fallbacks: ["good-b"])
            let replica = try await TestServers.control(database: fixture.database, secrets: fixture.secrets)
            let admin = AdminClient.test(fixture.http, replica, fixture.secrets)
            let node = try await TestServers.node(controlURL: replica.url, secrets: fixture.secrets)
            do {
                try await fixture.admin.send(
                    .PUT,
                    "/admin/v1/tenants/acme/routes/chat/canary",
                    ["candidate": ["model": "fail500"], "steps": [["percent": 50, "min_duration_s": 0, "min_requests": 100_000]]]
                )
                // The replica that took the write goes away; the node reports to the other one.
                await fixture.control.stop()
                #expect(
                    await eventually(timeout: .seconds(5)) {
                        let response = try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "chat", extra: #","user":"probe""#))
                        return response.headers["x-switchyard-route"] == "chat" && response.status == 200
                    }
                )
                var state = "running"
                for index in 0..<200 where state == "running" {
                    _ = try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "chat", extra: #","user":"u-\#(index)""#))
                    if index % 10 == 9 {
                        state = try await admin.send(.GET, "/admin/v1/tenants/acme/routes/chat/canary").1["state"]?.stringValue ?? "?"
                    }
                    try await Task.sleep(for: .milliseconds(20))
                }
                #expect(state == "rolled_back")
            } catch {
                await node.stop()
                await replica.stop()
                throw error
            }
            await node.stop()
            await replica.stop()
        }
    }

    /// A candidate as good as the baseline goes through every step and is promoted by itself.
    @Test func healthyCandidateIsPromotedStepByStep() async throws {
        try await Fixture.with { fixture in
            let key = try await fixture.seed()
            try await fixture.route("chat", "good")
            let node = try await fixture.node()
            let base = "/admin/v1/tenants/acme/routes/chat/canary"
            try await fixture.admin.send(
                .PUT,
                base,
                [
                    "candidate": ["model": "good-b"],
                    "steps": [["percent": 40, "min_duration_s": 0, "min_requests": 5], ["percent": 80, "min_duration_s": 0, "min_requests": 5]],
                ]
            )
            var state = "running"
            for index in 0..<400 where state == "running" {
                _ = try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "chat", extra: #","user":"user-\#(index)""#))
                if index % 10 == 9 { state = try await fixture.admin.send(.GET, base).1["state"]?.stringValue ?? "?" }
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(state == "promoted")
            let (_, canary) = try await fixture.admin.send(.GET, base)
            let outcomes = canary["decisions"]?.arrayValue?.compactMap { $0["outcome"]?.stringValue }
            #expect(outcomes == ["started", "advanced", "promoted"], "\(canary)")
            #expect(canary["decisions"]?[2]?["actor"] == "analysis")
            let (_, route) = try await fixture.admin.send(.GET, "/admin/v1/tenants/acme/routes/chat")
            #expect(route["default"]?["model"] == "good-b" && route["revision"] == 2)
            await node.stop()
        }
    }

    @Test func badCanariesAreRefusedWithTheField() async throws {
        try await Fixture.with { fixture in
            _ = try await fixture.seed()
            try await fixture.route("chat", "good")
            let base = "/admin/v1/tenants/acme/routes/chat/canary"
            let cases: [(JSONValue, String)] = [
                ([:], "candidate"),
                (["candidate": ["model": "good-b"], "steps": [["percent": 50], ["percent": 10]]], "steps[1].percent"),
                (["candidate": ["model": "good-b"], "guardrails": [["kind": "latency"]]], "guardrails[0].bound_ms"),
                (["candidate": ["model": "good-b"], "guardrails": [["kind": "vibes"]]], "guardrails[0].kind"),
                (["candidate": ["model": "good-b"], "alpha": 0.9], "alpha"),
                (["candidate": ["model": "good-b"], "surprise": true], "surprise"),
            ]
            for (body, field) in cases {
                let (status, answer) = try await fixture.admin.send(.PUT, base, body, allow: [422])
                #expect(status == 422 && answer["error"]?["field"]?.stringValue == field, "\(body): \(answer)")
            }
            let (missing, _) = try await fixture.admin.send(.PUT, base, ["candidate": ["model": "nope"]], allow: [404])
            #expect(missing == 404)
            let (noRoute, _) = try await fixture.admin.send(
                .PUT,
                "/admin/v1/tenants/acme/routes/ghost/canary",
                ["candidate": ["model": "good-b"]],
                allow: [404]
            )
            #expect(noRoute == 404)
            let (nothing, _) = try await fixture.admin.send(.GET, base, nil, allow: [404])
            #expect(nothing == 404, "nothing was half-written")
        }
    }
}
