import Foundation
import NIOHTTP1
import SwitchyardCLI
import SwitchyardCore
import SwitchyardTesting
import Testing

/// Serving policies: models carry region and capability tags, a tenant's or key's policy limits
/// which may serve it, routing and fallbacks obey, and simulate explains a refusal.
struct GovernanceTests {
    @Test func policiesRestrictWhatServesAndSimulateExplains() async throws {
        try await Fixture.with { fixture in
            let key = try await fixture.seed()
            let models: [(String, String, JSONValue, JSONValue)] = [
                ("us-model", "mock", ["region": "us"], ["tools"]),
                ("eu-model", "mock-b", ["region": "eu"], ["tools", "vision"]),
                ("eu-notools", "mock-b", ["region": "eu"], ["vision"]),
            ]
            for (name, provider, tags, capabilities) in models {
                try await fixture.admin.send(
                    .PUT,
                    "/admin/v1/models/\(name)",
                    [
                        "provider": .string(provider), "upstream_model": .string(name + "-upstream"), "input_price_per_mtok": 1,
                        "output_price_per_mtok": 2, "tags": tags, "capabilities": capabilities,
                    ]
                )
            }
            let (_, model) = try await fixture.admin.send(.GET, "/admin/v1/models/eu-model")
            #expect(model["tags"] == ["region": "eu"] && model["capabilities"] == ["tools", "vision"])
            try await fixture.route("chat", spec: ["default": ["model": "us-model"], "fallbacks": [["model": "eu-notools"], ["model": "eu-model"]]])
            let node = try await fixture.node()
            defer { Task { await node.stop() } }
            #expect(await fixture.waitForRoute(node, key: key, alias: "chat"))
            let before = try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "chat"))
            #expect(before.headers["x-switchyard-model"] == "us-model")

            // EU only: the US primary is skipped, the first EU target serves.
            let (_, tenant) = try await fixture.admin.send(.PUT, "/admin/v1/tenants/acme", ["policy": ["require": ["region": ["eu"]]]])
            #expect(tenant["policy"] == ["require": ["region": ["eu"]]])
            #expect(
                await eventually(timeout: .seconds(3)) {
                    try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "chat")).headers["x-switchyard-model"] == "eu-notools"
                }
            )
            try await fixture.resetMockCounts()
            let eu = try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "chat"))
            #expect(eu.headers["x-switchyard-model"] == "eu-notools" && eu.headers["x-switchyard-attempts"] == "1")
            #expect(try await fixture.mockCounts() == ["eu-notools-upstream": 1])

            // A request with tools also skips the EU model that declares no tool support.
            let tools = #","tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]"#
            let withTools = try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "chat", extra: tools))
            #expect(withTools.status == 200 && withTools.headers["x-switchyard-model"] == "eu-model", "\(withTools.body)")

            // Simulate explains the skips.
            let (_, simulated) = try await fixture.admin.send(
                .POST,
                "/admin/v1/tenants/acme/routes/chat/simulate",
                ["body": ["messages": [["role": "user", "content": "x"]]]]
            )
            #expect(simulated["attempts"]?.arrayValue?.compactMap { $0["model"]?.stringValue } == ["eu-notools", "eu-model"])
            let skipped = simulated["skipped"]?.arrayValue ?? []
            #expect(
                skipped.contains {
                    $0["model"] == "us-model" && $0["reason"]?.stringValue?.contains("tenant policy") == true
                        && $0["reason"]?.stringValue?.contains("region=us") == true
                }
            )
            #expect(simulated["refused"] == .null)

            // A key limited to the US on top of an EU-only tenant: nothing may serve it.
            let (_, usKey) = try await fixture.admin.send(
                .POST,
                "/admin/v1/tenants/acme/keys",
                ["name": "us-only", "policy": ["require": ["region": ["us"]]]]
            )
            let usSecret = try #require(usKey["secret"]?.stringValue)
            let usKeyID = try #require(usKey["id"]?.stringValue)
            #expect(
                await eventually(timeout: .seconds(3)) {
                    try await callNode(fixture.http, node.url, key: usSecret, body: chatBody(model: "chat")).status == 403
                }
            )
            let refused = try await callNode(fixture.http, node.url, key: usSecret, body: chatBody(model: "chat"))
            #expect(refused.json["error"]?["code"] == "policy_violation", "\(refused.body)")
            #expect(refused.json["error"]?["message"]?.stringValue?.contains("key policy") == true)
            let (_, explained) = try await fixture.admin.send(
                .POST,
                "/admin/v1/tenants/acme/routes/chat/simulate",
                ["key_id": .string(usKeyID), "body": ["messages": [["role": "user", "content": "x"]]]]
            )
            #expect(explained["attempts"]?.arrayValue?.isEmpty == true)
            #expect(explained["refused"]?["code"] == "policy_violation")
            #expect(explained["skipped"]?.arrayValue?.count == 3)

            // Bad policies name the field.
            let (status, error) = try await fixture.admin.send(
                .PUT,
                "/admin/v1/tenants/acme",
                ["policy": ["require": ["region": []]]],
                allow: [422]
            )
            #expect(status == 422 && error["error"]?["field"] == "policy.require.region")
            let (badCapability, capabilityError) = try await fixture.admin.send(
                .PUT,
                "/admin/v1/models/eu-model",
                ["provider": "mock-b", "upstream_model": "x", "input_price_per_mtok": 1, "output_price_per_mtok": 1, "capabilities": ["no spaces"]],
                allow: [422]
            )
            #expect(badCapability == 422 && capabilityError["error"]?["field"] == "capabilities[0]")
        }
    }
}
