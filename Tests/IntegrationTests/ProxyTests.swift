import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import SwitchyardCLI
import SwitchyardCore
import SwitchyardTesting
import Testing

/// The OpenAI-compatible proxy against real servers: fallback rules, errors, streaming.
@Suite(.serialized) struct ProxyTests {
    @Test func servesDefaultTargetWithDecisionHeaders() async throws {
        try await Fixture.with { fixture in
            let key = try await fixture.seed()
            try await fixture.route("chat", "good", fallbacks: ["good-b"])
            let node = try await fixture.node()
            #expect(await fixture.waitForRoute(node, key: key, alias: "chat"))
            let response = try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "chat", message: "ping pong"))
            #expect(response.status == 200)
            #expect(response.json["choices"]?[0]?["message"]?["content"] == "mock reply to: ping pong")
            #expect(response.json["model"] == "good-model")
            #expect(response.headers["x-switchyard-route"] == "chat")
            #expect(response.headers["x-switchyard-revision"] == "1")
            #expect(response.headers["x-switchyard-model"] == "good")
            #expect(response.headers["x-switchyard-provider"] == "mock")
            #expect(response.headers["x-switchyard-attempts"] == "1")
            #expect(response.headers["x-switchyard-trace-id"]?.count == 32)

            let metrics = try await callNode(fixture.http, node.url, key: nil, body: "", method: .GET, path: "/metrics")
            #expect(metrics.status == 200)
            #expect(metrics.body.contains(#"switchyard_requests_total{route="acme/chat",status="200"}"#))
            #expect(metrics.body.contains(#"switchyard_upstream_attempts_total{provider="mock",model="good",outcome="ok"}"#))
            #expect(metrics.body.contains(#"switchyard_tokens_total{route="acme/chat",model="good",kind="completion"}"#))
            await node.stop()
        }
    }

    @Test func providerCredentialsReachTheUpstream() async throws {
        try await Fixture.with { fixture in
            let key = try await fixture.seed()
            try await fixture.route("chat", "good")
            let node = try await fixture.node()
            #expect(await fixture.waitForRoute(node, key: key, alias: "chat"))
            let response = try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "chat", message: "__echo_auth__"))
            #expect(response.json["choices"]?[0]?["message"]?["content"] == "Bearer sk-upstream-secret")
            await node.stop()
        }
    }

    @Test func rotatedProviderKeyReachesTheUpstream() async throws {
        try await Fixture.with { fixture in
            let key = try await fixture.seed()
            try await fixture.route("chat", "good")
            let node = try await fixture.node()
            #expect(await fixture.waitForRoute(node, key: key, alias: "chat"))
            // A PUT without api_key keeps the stored key; one with api_key replaces it.
            try await fixture.admin.send(
                .PUT,
                "/admin/v1/providers/mock",
                ["kind": "openai_compatible", "base_url": .string(fixture.mock.url + "/v1")]
            )
            let kept = try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "chat", message: "__echo_auth__"))
            #expect(kept.json["choices"]?[0]?["message"]?["content"] == "Bearer sk-upstream-secret")
            try await fixture.admin.send(
                .PUT,
                "/admin/v1/providers/mock",
                ["kind": "openai_compatible", "base_url": .string(fixture.mock.url + "/v1"), "api_key": "sk-rotated"]
            )
            #expect(
                await eventually {
                    let response = try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "chat", message: "__echo_auth__"))
                    return response.json["choices"]?[0]?["message"]?["content"] == "Bearer sk-rotated"
                }
            )
            await node.stop()
        }
    }

    @Test func oversizedBodyIsRefusedWithAnOpenAIError() async throws {
        try await Fixture.with { fixture in
            let key = try await fixture.seed()
            try await fixture.route("chat", "good")
            let node = try await fixture.node(maxRequestBodyBytes: 64 * 1024)
            #expect(await fixture.waitForRoute(node, key: key, alias: "chat"))
            let huge = String(repeating: "x", count: 100 * 1024)
            let response = try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "chat", message: huge))
            #expect(response.status == 413)
            #expect(response.json["error"]?["code"] == "request_too_large")
            await node.stop()
        }
    }

    @Test(arguments: [
        ("fail500", "status_500"), ("fail429", "status_429"), ("hang", "timeout"), ("refused", "connect_error"), ("reset", ""),
    ])
    func fallsBackOnTransportFailures(failing: String, reason: String) async throws {
        try await Fixture.with { fixture in
            let key = try await fixture.seed()
            try await fixture.route("chat", failing, fallbacks: ["good-b"], firstTokenMs: 600, totalMs: 1_000)
            let node = try await fixture.node()
            #expect(await fixture.waitForRoute(node, key: key, alias: "chat", timeout: .seconds(5)))
            let response = try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "chat"))
            #expect(response.status == 200)
            #expect(response.headers["x-switchyard-attempts"] == "2")
            #expect(response.headers["x-switchyard-model"] == "good-b")
            #expect(response.headers["x-switchyard-provider"] == "mock-b")
            #expect(response.headers["x-switchyard-fallback-reasons"]?.hasPrefix("\(failing):\(reason)") == true)
            #expect(response.json["choices"]?[0]?["message"]?["content"] == "mock reply to: hello")
            await node.stop()
        }
    }

    /// `first_token_ms` bounds how long a stream may take to start; `total_ms` (20 s here) does not apply yet.
    @Test func silentStreamFallsBackAfterTheFirstTokenTimeout() async throws {
        try await Fixture.with { fixture in
            let key = try await fixture.seed()
            try await fixture.route("chat", "hang", fallbacks: ["good-b"], firstTokenMs: 500, totalMs: 20_000)
            try await fixture.route("probe", "good")
            let node = try await fixture.node()
            #expect(await fixture.waitForRoute(node, key: key, alias: "probe"))
            let started = ContinuousClock.now
            let response = try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "chat", stream: true))
            #expect(started.duration(to: .now) < .seconds(10))
            #expect(response.status == 200)
            #expect(response.headers["x-switchyard-attempts"] == "2")
            #expect(response.headers["x-switchyard-fallback-reasons"] == "hang:timeout")
            #expect(response.body.hasSuffix("data: [DONE]\n\n"))
            await node.stop()
        }
    }

    @Test func noFallbackOnClientErrors() async throws {
        try await Fixture.with { fixture in
            let key = try await fixture.seed()
            try await fixture.route("chat", "bad400", fallbacks: ["good-b"])
            let node = try await fixture.node()
            #expect(await eventually { try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "chat")).status == 400 })
            let response = try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "chat"))
            #expect(response.status == 400)
            #expect(response.headers["x-switchyard-attempts"] == "1")
            #expect(response.headers["x-switchyard-model"] == "bad400")
            #expect(response.json["error"]?["code"] == "mock_bad_request")
            await node.stop()
        }
    }

    /// A provider refusing the router (bad credentials, wrong URL) is the operator's problem: the
    /// next target is tried, and when none is left the client gets a 502 that names the provider,
    /// never the provider's body (it may echo part of the provider key).
    @Test func providerRefusingTheRouterFallsBackOrIsA502WithoutItsBody() async throws {
        try await Fixture.with { fixture in
            let key = try await fixture.seed()
            try await fixture.route("chat", "unauthorized")
            try await fixture.route("covered", "unauthorized", fallbacks: ["good-b"])
            let node = try await fixture.node()
            #expect(await eventually { try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "chat")).status == 502 })
            let response = try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "chat"))
            #expect(response.status == 502)
            #expect(response.json["error"]?["code"] == "upstream_misconfigured")
            #expect(response.json["error"]?["message"]?.stringValue?.contains("'mock-auth'") == true)
            #expect(!response.body.contains("sk-upstream-secret"))

            let covered = try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "covered"))
            #expect(covered.status == 200)
            #expect(covered.headers["x-switchyard-model"] == "good-b")
            await node.stop()
        }
    }

    @Test func allTargetsFailingGivesAnOpenAIError() async throws {
        try await Fixture.with { fixture in
            let key = try await fixture.seed()
            try await fixture.route("chat", "fail500", fallbacks: ["refused"])
            try await fixture.route("limited", "fail429")
            let node = try await fixture.node()
            #expect(await eventually { try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "limited")).status == 429 })
            let response = try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "chat"))
            #expect(response.status == 502)
            #expect(response.headers["x-switchyard-attempts"] == "2")
            #expect(response.json["error"]?["code"] == "upstream_unavailable")
            #expect(response.json["error"]?["type"] == "upstream_error")
            let limited = try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "limited"))
            #expect(limited.json["error"]?["code"] == "upstream_rate_limited")
            await node.stop()
        }
    }

    @Test func clientErrorsHaveOpenAIShape() async throws {
        try await Fixture.with { fixture in
            let key = try await fixture.seed()
            try await fixture.route("chat", "good")
            let node = try await fixture.node()
            #expect(await fixture.waitForRoute(node, key: key, alias: "chat"))
            let cases: [(String?, String, Int, String?, String?)] = [
                (key, "{not json", 400, "invalid_json", nil),
                (key, #"{"messages":[{"role":"user","content":"x"}]}"#, 400, "missing_required_parameter", "model"),
                (key, chatBody(model: "no-such-route"), 404, "model_not_found", "model"),
                ("sk-sy-AAAAAAAA-" + String(repeating: "b", count: 32), chatBody(model: "chat"), 401, "invalid_api_key", nil),
                ("garbage", chatBody(model: "chat"), 401, "invalid_api_key", nil),
                (nil, chatBody(model: "chat"), 401, "invalid_api_key", nil),
            ]
            for (callerKey, body, status, code, param) in cases {
                let response = try await callNode(fixture.http, node.url, key: callerKey, body: body)
                #expect(response.status == status, "\(body)")
                let error = response.json["error"]
                #expect(error?["code"]?.stringValue == code, "\(body)")
                #expect(error?["param"]?.stringValue == param, "\(body)")
                #expect(error?["message"]?.stringValue?.isEmpty == false)
                #expect(error?["type"]?.stringValue != nil)
                #expect(response.headers["x-switchyard-trace-id"] != nil)
                #expect(response.headers["content-type"] == "application/json")
            }
            let unknownPath = try await callNode(fixture.http, node.url, key: key, body: "{}", path: "/v1/nope")
            #expect(unknownPath.status == 404)
            #expect(unknownPath.json["error"]?["code"] == "unknown_url")
            await node.stop()
        }
    }

    @Test func streamingRelaysFirstChunkBeforeUpstreamFinishes() async throws {
        try await Fixture.with { fixture in
            let key = try await fixture.seed()
            try await fixture.route("slow", "slow")
            let node = try await fixture.node()
            #expect(await fixture.waitForRoute(node, key: key, alias: "slow", timeout: .seconds(5)))
            var request = HTTPClientRequest(url: node.url + "/v1/chat/completions")
            request.method = .POST
            request.headers.add(name: "authorization", value: "Bearer \(key)")
            request.body = .bytes(ByteBuffer(string: chatBody(model: "slow", message: "one two three four five six", stream: true)))
            let started = ContinuousClock.now
            let response = try await fixture.http.execute(request, timeout: .seconds(30))
            #expect(response.status == .ok)
            #expect(response.headers.first(name: "content-type") == "text/event-stream")
            var arrivals: [(Duration, String)] = []
            for try await chunk in response.body {
                arrivals.append((started.duration(to: .now), String(buffer: chunk)))
            }
            let text = arrivals.map(\.1).joined()
            // 10 tokens at 150 ms each: the stream takes ≥ 1.5 s; the first content came long before its end.
            let firstContent = try #require(arrivals.first { $0.1.contains(#""content":"mock""#) }?.0)
            let end = try #require(arrivals.last?.0)
            #expect(end - firstContent >= .seconds(1))
            #expect(text.hasSuffix("data: [DONE]\n\n"))
            #expect(!text.contains(#""usage":{"#), "usage chunk relayed although the client did not ask for it")
            await node.stop()
        }
    }

    @Test func streamingIncludesUsageWhenAsked() async throws {
        try await Fixture.with { fixture in
            let key = try await fixture.seed()
            try await fixture.route("chat", "good")
            let node = try await fixture.node()
            #expect(await fixture.waitForRoute(node, key: key, alias: "chat"))
            let response = try await callNode(
                fixture.http,
                node.url,
                key: key,
                body: chatBody(model: "chat", message: "a b", stream: true, extra: #","stream_options":{"include_usage":true}"#)
            )
            #expect(response.status == 200)
            let events = response.body.components(separatedBy: "\n\n").filter { !$0.isEmpty }
            #expect(events.last == "data: [DONE]")
            let usageEvent = try #require(events.dropLast().last)
            let usage = try JSONDecoder().decode(JSONValue.self, from: Data(usageEvent.dropFirst("data: ".count).utf8))
            #expect(usage["choices"] == [])
            #expect(usage["usage"]?["completion_tokens"] == 5)
            await node.stop()
        }
    }

    @Test func streamCutMidwayEndsWithAnErrorEvent() async throws {
        try await Fixture.with { fixture in
            let key = try await fixture.seed()
            try await fixture.route("cut", "cut", fallbacks: ["good-b"])
            let node = try await fixture.node()
            #expect(
                await eventually { try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "cut", stream: true)).status == 200 }
            )
            let response = try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "cut", message: "x y z", stream: true))
            #expect(response.status == 200)
            #expect(response.headers["x-switchyard-attempts"] == "1")
            #expect(response.body.contains(#""content":"mock""#))
            #expect(response.body.contains("stream_interrupted"))
            #expect(!response.body.contains("[DONE]"))
            await node.stop()
        }
    }

    @Test func modelsListsTheTenantsRoutes() async throws {
        try await Fixture.with { fixture in
            let key = try await fixture.seed()
            try await fixture.route("chat", "good")
            try await fixture.route("other", "good-b")
            let node = try await fixture.node()
            #expect(await fixture.waitForRoute(node, key: key, alias: "other"))
            let response = try await callNode(fixture.http, node.url, key: key, body: "", method: .GET, path: "/v1/models")
            #expect(response.status == 200)
            #expect(response.json["object"] == "list")
            #expect(response.json["data"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == ["chat", "other"])
            await node.stop()
        }
    }
}
