import Foundation
import NIOHTTP1
import SwitchyardCLI
import SwitchyardCore
import SwitchyardTesting
import Testing

/// Virtual keys: expiry, allowed routes and metadata, from the admin API to every node.
@Suite(.serialized) struct KeyPolicyTests {
    @Test func keysExpireOnTimeAndSeeOnlyTheirRoutes() async throws {
        try await Fixture.with { fixture in
            let key = try await fixture.seed()
            try await fixture.route("chat", "good")
            try await fixture.route("other", "good-b")
            // Long enough for the checks below on a loaded machine; the test then waits for it.
            let expiry = Date().addingTimeInterval(20)
            let (status, created) = try await fixture.admin.send(
                .POST,
                "/admin/v1/tenants/acme/keys",
                [
                    "name": "short-lived", "expires_at": .string(expiry.formatted(.iso8601)), "allowed_routes": ["chat"],
                    "metadata": ["owner": "team-search"],
                ]
            )
            #expect(status == 201)
            #expect(created["allowed_routes"] == ["chat"])
            #expect(created["metadata"]?["owner"] == "team-search")
            #expect(created["expires_at"]?.stringValue != nil)
            let limited = try #require(created["secret"]?.stringValue)
            // simulate explains the refusal the node would give this key on another route.
            let keyID = try #require(created["id"]?.stringValue)
            let (refusal, explained) = try await fixture.admin.send(
                .POST,
                "/admin/v1/tenants/acme/routes/other/simulate",
                ["key_id": .string(keyID), "body": ["messages": [["role": "user", "content": "x"]]]],
                allow: [422]
            )
            #expect(refusal == 422)
            #expect(explained["error"]?["message"]?.stringValue?.contains("allowed_routes") == true)

            let node = try await fixture.node()
            #expect(await fixture.waitForRoute(node, key: key, alias: "other"))
            #expect(await fixture.waitForRoute(node, key: limited, alias: "chat"))
            // A route the key may not use answers exactly like one that does not exist.
            let refused = try await callNode(fixture.http, node.url, key: limited, body: chatBody(model: "other"))
            let missing = try await callNode(fixture.http, node.url, key: limited, body: chatBody(model: "nope"))
            #expect(refused.status == 404)
            #expect(refused.json["error"]?["code"] == "model_not_found")
            #expect(missing.json["error"]?["code"] == refused.json["error"]?["code"])
            let models = try await callNode(fixture.http, node.url, key: limited, body: "", method: .GET, path: "/v1/models")
            #expect(models.json["data"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == ["chat"])
            // The unrestricted key still sees both.
            #expect(try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "other")).status == 200)

            // Expiry needs no config change: the node's clock refuses the key once it is due.
            let wait = expiry.timeIntervalSinceNow + 0.3
            if wait > 0 { try await Task.sleep(for: .milliseconds(Int(wait * 1000))) }
            let expired = try await callNode(fixture.http, node.url, key: limited, body: chatBody(model: "chat"))
            #expect(expired.status == 401)
            #expect(expired.json["error"]?["code"] == "invalid_api_key")
            #expect(expired.json["error"]?["message"]?.stringValue?.contains("expired") == true)
            let (_, keys) = try await fixture.admin.send(.GET, "/admin/v1/tenants/acme/keys")
            #expect(keys["data"]?.arrayValue?.contains { $0["name"] == "short-lived" && $0["revoked_at"] == .null } == true)
            await node.stop()
        }
    }

    @Test func badKeySettingsNameTheirField() async throws {
        try await Fixture.with { fixture in
            try await fixture.seed()
            let cases: [(JSONValue, String)] = [
                (["expires_at": "2001-01-01T00:00:00Z"], "expires_at"),
                (["expires_at": "next tuesday"], "expires_at"),
                (["allowed_routes": [5]], "allowed_routes[0]"),
                (["allowed_routes": ["ok", "no spaces"]], "allowed_routes[1]"),
                (["metadata": ["team": 7]], "metadata.team"),
                (["metadata": "x"], "metadata"),
                (["expiry": "2030-01-01T00:00:00Z"], "expiry"),
            ]
            let (_, before) = try await fixture.admin.send(.GET, "/admin/v1/tenants/acme/keys")
            for (body, field) in cases {
                let (status, error) = try await fixture.admin.send(.POST, "/admin/v1/tenants/acme/keys", body, allow: [422])
                #expect(status == 422, "\(field)")
                #expect(error["error"]?["field"]?.stringValue == field)
            }
            let (_, after) = try await fixture.admin.send(.GET, "/admin/v1/tenants/acme/keys")
            #expect(after["data"]?.arrayValue?.count == before["data"]?.arrayValue?.count, "nothing half-written")
        }
    }

    /// Rotating a provider's keys under traffic: add the new key, drop the old one (which the
    /// provider then refuses); no client request fails on the way.
    @Test func providerKeysRotateWithoutAFailedRequest() async throws {
        try await Fixture.with { fixture in
            let key = try await fixture.seed()
            let base = JSONValue.string(fixture.mock.url + "/v1")
            try await fixture.admin.send(
                .PUT,
                "/admin/v1/providers/rotating",
                ["kind": "openai_compatible", "base_url": base, "credentials": [["name": "old", "key": "sk-old"]]]
            )
            try await fixture.admin.send(
                .PUT,
                "/admin/v1/models/rotating-model",
                ["provider": "rotating", "upstream_model": "rotating-model", "input_price_per_mtok": 1, "output_price_per_mtok": 1]
            )
            try await fixture.route("chat", "rotating-model")
            let node = try await fixture.node()
            #expect(await fixture.waitForRoute(node, key: key, alias: "chat", timeout: .seconds(5)))
            let steps: [JSONValue] = [
                // 1. Both keys. 2. The provider revoked the old key (the mock refuses it). 3. Only the new key.
                [["name": "old", "key": "sk-old"], ["name": "new", "key": "sk-new"]],
                [["name": "old", "key": "sk-mock-revoked-old"], ["name": "new", "key": "sk-new"]],
                [["name": "new", "key": "sk-new"]],
            ]
            try await withThrowingTaskGroup(of: [Int].self) { group in
                group.addTask {
                    var statuses: [Int] = []
                    // Paced to span all three steps and their propagation to the node.
                    for _ in 0..<60 {
                        statuses.append(try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "chat")).status)
                        try await Task.sleep(for: .milliseconds(15))
                    }
                    return statuses
                }
                group.addTask {
                    for credentials in steps {
                        try await Task.sleep(for: .milliseconds(150))
                        try await fixture.admin.send(
                            .PUT,
                            "/admin/v1/providers/rotating",
                            ["kind": "openai_compatible", "base_url": base, "credentials": credentials]
                        )
                    }
                    return []
                }
                for try await statuses in group where !statuses.isEmpty {
                    #expect(statuses.allSatisfy { $0 == 200 }, "\(statuses.filter { $0 != 200 })")
                }
            }
            let (_, provider) = try await fixture.admin.send(.GET, "/admin/v1/providers/rotating")
            #expect(provider["credentials"] == [["name": "new", "weight": 1]])
            await node.stop()
        }
    }
}
