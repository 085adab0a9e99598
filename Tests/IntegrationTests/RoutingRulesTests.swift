import AsyncHTTPClient
import Foundation
import NIOHTTP1
import SwitchyardCLI
import SwitchyardCore
import SwitchyardTesting
import Testing

/// Route rules end to end: admin API validation, the node's decision and headers, `simulate`.
@Suite(.serialized) struct RoutingRulesTests {
    static let ruleSpec: JSONValue = [
        "rules": [
            [
                "name": "summaries", "when": ["field": "tag", "op": "eq", "value": "summarize"],
                "then": ["model": "good-b", "params": ["temperature": 0.2]],
            ],
            ["name": "search-team", "when": ["field": "header.x-team", "op": "eq", "value": "search"], "then": ["model": "slow"]],
            [
                "name": "prod-keys",
                "when": ["all": [["field": "key.labels.env", "op": "eq", "value": "prod"], ["field": "tenant.labels.tier", "op": "exists"]]],
                "then": ["model": "good-b"],
            ],
            ["name": "eu", "when": ["field": "region", "op": "prefix", "value": "eu-"], "then": ["model": "good-b"]],
        ],
        "default": ["model": "good"],
        "fallbacks": [["model": "good-b"]],
    ]

    @Test func rulesPickTheTargetAndHeadersSayWhich() async throws {
        try await Fixture.with { fixture in
            let key = try await fixture.seed()
            try await fixture.route("chat", spec: Self.ruleSpec)
            let node = try await fixture.node()
            #expect(await fixture.waitForRoute(node, key: key, alias: "chat"))

            let plain = try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "chat"))
            #expect(plain.status == 200)
            #expect(plain.headers["x-switchyard-rule"] == "default")
            #expect(plain.headers["x-switchyard-variant"] == "good")
            #expect(plain.headers["x-switchyard-model"] == "good")

            let tagged = try await callNode(
                fixture.http,
                node.url,
                key: key,
                body: chatBody(model: "chat"),
                headers: ["x-switchyard-tag": "summarize"]
            )
            #expect(tagged.headers["x-switchyard-rule"] == "summaries")
            #expect(tagged.headers["x-switchyard-model"] == "good-b")

            // The tag may come in the body's metadata as well.
            let metadataTagged = try await callNode(
                fixture.http,
                node.url,
                key: key,
                body: chatBody(model: "chat", extra: #","metadata":{"tag":"summarize"}"#)
            )
            #expect(metadataTagged.headers["x-switchyard-rule"] == "summaries")

            let header = try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "chat"), headers: ["X-Team": "search"])
            #expect(header.headers["x-switchyard-rule"] == "search-team")
            #expect(header.headers["x-switchyard-model"] == "slow")
            await node.stop()
        }
    }

    @Test func tenantLabelsKeyLabelsAndRegionAreFacts() async throws {
        try await Fixture.with { fixture in
            let key = try await fixture.seed()
            try await fixture.route("chat", spec: Self.ruleSpec)
            let (_, prodKey) = try await fixture.admin.send(.POST, "/admin/v1/tenants/acme/keys", ["name": "prod", "labels": ["env": "prod"]])
            let prodSecret = try #require(prodKey["secret"]?.stringValue)
            #expect(prodKey["labels"]?["env"] == "prod")

            let eu = try await fixture.node(region: "eu-west-1")
            #expect(await fixture.waitForRoute(eu, key: key, alias: "chat"))
            let inEU = try await callNode(fixture.http, eu.url, key: key, body: chatBody(model: "chat"))
            #expect(inEU.headers["x-switchyard-rule"] == "eu")
            await eu.stop()

            let node = try await fixture.node()
            #expect(await fixture.waitForRoute(node, key: prodSecret, alias: "chat"))
            // The tenant has no `tier` label yet: the `all` fails.
            var response = try await callNode(fixture.http, node.url, key: prodSecret, body: chatBody(model: "chat"))
            #expect(response.headers["x-switchyard-rule"] == "default")
            let (status, tenant) = try await fixture.admin.send(.PUT, "/admin/v1/tenants/acme", ["labels": ["tier": "gold"]])
            #expect(status == 200)
            #expect(tenant["labels"]?["tier"] == "gold")
            #expect(
                await eventually(timeout: .seconds(5)) {
                    try await callNode(fixture.http, node.url, key: prodSecret, body: chatBody(model: "chat")).headers["x-switchyard-rule"]
                        == "prod-keys"
                }
            )
            response = try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "chat"))
            #expect(response.headers["x-switchyard-rule"] == "default", "the other key has no env label")
            await node.stop()
        }
    }

    @Test func weightedSplitIsStickyPerUserAndMatchesSimulate() async throws {
        try await Fixture.with { fixture in
            let key = try await fixture.seed()
            try await fixture.route(
                "chat",
                spec: [
                    "default": [
                        "split": [["model": "good", "weight": 50, "variant": "control"], ["model": "good-b", "weight": 50, "variant": "treatment"]]
                    ]
                ]
            )
            let node = try await fixture.node()
            #expect(await fixture.waitForRoute(node, key: key, alias: "chat"))
            var seen = Set<String>()
            for index in 0..<12 {
                let sticky = "user-\(index)"
                let first = try await callNode(
                    fixture.http,
                    node.url,
                    key: key,
                    body: chatBody(model: "chat"),
                    headers: ["x-switchyard-sticky": sticky]
                )
                let again = try await callNode(
                    fixture.http,
                    node.url,
                    key: key,
                    body: chatBody(model: "chat"),
                    headers: ["x-switchyard-sticky": sticky]
                )
                let variant = try #require(first.headers["x-switchyard-variant"])
                #expect(again.headers["x-switchyard-variant"] == variant)
                #expect(first.headers["x-switchyard-model"] == (variant == "control" ? "good" : "good-b"))
                seen.insert(variant)
                // simulate explains the very same decision without calling a provider.
                let (status, simulated) = try await fixture.admin.send(
                    .POST,
                    "/admin/v1/tenants/acme/routes/chat/simulate",
                    ["headers": ["X-Switchyard-Sticky": .string(sticky)], "body": ["messages": [["role": "user", "content": "hello"]]]]
                )
                #expect(status == 200)
                #expect(simulated["variant"]?.stringValue == variant)
                #expect(simulated["sticky"]?["source"] == "header")
            }
            #expect(seen == ["control", "treatment"])
            await node.stop()
        }
    }

    @Test func simulateExplainsEveryStep() async throws {
        try await Fixture.with { fixture in
            try await fixture.seed()
            try await fixture.route("chat", spec: Self.ruleSpec)
            let (status, answer) = try await fixture.admin.send(
                .POST,
                "/admin/v1/tenants/acme/routes/chat/simulate",
                [
                    "headers": ["x-team": "search"],
                    "body": ["model": "chat", "messages": [["role": "user", "content": "hi"]], "user": "u-1"],
                    "region": "us-east-1",
                ]
            )
            #expect(status == 200)
            #expect(answer["rule"] == "search-team")
            #expect(answer["rules_evaluated"]?.arrayValue?.count == 2)
            #expect(answer["rules_evaluated"]?[0]?["matched"] == false)
            #expect(answer["attempts"]?[0]?["model"] == "slow")
            #expect(answer["attempts"]?[0]?["reason"]?.stringValue?.contains("rule 'search-team' matched") == true)
            #expect(answer["attempts"]?[1]?["model"] == "good-b")
            #expect(answer["attempts"]?[1]?["fallback"] == true)
            #expect(answer["sticky"]?["source"] == "user")
            #expect(answer["facts"]?["region"] == "us-east-1")

            // Bad input names the field.
            let (missing, error) = try await fixture.admin.send(
                .POST,
                "/admin/v1/tenants/acme/routes/chat/simulate",
                ["headers": [:]],
                allow: [422]
            )
            #expect(missing == 422)
            #expect(error["error"]?["field"] == "body")
            let (badKey, keyError) = try await fixture.admin.send(
                .POST,
                "/admin/v1/tenants/acme/routes/chat/simulate",
                ["body": ["messages": [["role": "user", "content": "x"]]], "key_id": "key_nope"],
                allow: [422]
            )
            #expect(badKey == 422)
            #expect(keyError["error"]?["field"] == "key_id")
            let (noRoute, _) = try await fixture.admin.send(
                .POST,
                "/admin/v1/tenants/acme/routes/nope/simulate",
                ["body": ["messages": [["role": "user", "content": "x"]]]],
                allow: [404]
            )
            #expect(noRoute == 404)
        }
    }

    @Test func adminAPIRejectsBadSpecsWithFieldPaths() async throws {
        try await Fixture.with { fixture in
            try await fixture.seed()
            let cases: [(JSONValue, String)] = [
                (
                    [
                        "default": ["model": "good"],
                        "rules": [["name": "r", "when": ["field": "tag", "op": "like", "value": "x"], "then": ["model": "good"]]],
                    ], "rules[0].when.op"
                ),
                (["default": ["split": [["model": "good", "weight": 1], ["model": "ghost", "weight": 1]]]], "default.split[1].model"),
                (
                    ["default": ["model": "good"], "rules": [["name": "r", "when": ["field": "tag", "op": "exists"], "then": ["model": "ghost"]]]],
                    "rules[0].then.model"
                ),
                (["default": ["model": "good", "params": ["temperature": 9]]], "default.params.temperature"),
            ]
            for (spec, field) in cases {
                let (status, body) = try await fixture.admin.send(.PUT, "/admin/v1/tenants/acme/routes/chat", spec, allow: [422])
                #expect(status == 422, "\(field)")
                #expect(body["error"]?["field"]?.stringValue == field)
            }
            let (_, routes) = try await fixture.admin.send(.GET, "/admin/v1/tenants/acme/routes")
            #expect(routes["data"]?.arrayValue?.isEmpty == true, "nothing half-written")

            // A valid spec is stored in canonical form, and writing it again creates no revision.
            let spec: JSONValue = [
                "default": ["model": "good"],
                "rules": [["name": "r", "when": ["field": "stream", "op": "eq", "value": true], "then": ["model": "good-b"]]],
            ]
            let (created, first) = try await fixture.admin.send(.PUT, "/admin/v1/tenants/acme/routes/chat", spec)
            #expect(created == 201)
            #expect(first["retry"]?["max_retries"] == 1)
            #expect(first["timeouts"]?["idle_ms"] == 30000)
            let (again, second) = try await fixture.admin.send(.PUT, "/admin/v1/tenants/acme/routes/chat", spec)
            #expect(again == 200)
            #expect(second["revision"] == 1)
            // The canonical form itself is accepted as input and is still no change.
            var canonical = second.objectValue ?? [:]
            for field in ["alias", "revision", "created_by", "created_at"] { canonical[field] = nil }
            let (same, third) = try await fixture.admin.send(.PUT, "/admin/v1/tenants/acme/routes/chat", .object(canonical))
            #expect(same == 200)
            #expect(third["revision"] == 1)
        }
    }
}
