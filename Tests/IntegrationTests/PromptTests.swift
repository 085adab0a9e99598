import Foundation
import NIOHTTP1
import SwitchyardCLI
import SwitchyardCore
import SwitchyardTesting
import Testing

/// Versioned prompts end to end: rendering per model variant (fallbacks included), variable
/// errors, labels that move, history and diff, and recovery from output that fails the schema.
struct PromptTests {
    /// Models whose mock answers show what the router sent (`reply-request`), echo the last
    /// message (`reply-echo`) or answer JSON only when repaired (`reply-json-on-repair`).
    static func addModels(_ fixture: Fixture) async throws {
        let models: [(String, String, String)] = [
            ("echo-gpt", "mock", "reply-request:gpt"), ("echo-claude", "mock-anthropic", "reply-request:claude"),
            ("echo-gemini", "mock-gemini", "reply-request:gemini"), ("json-echo", "mock", "reply-echo:gpt"),
            ("json-echo-b", "mock-b", "reply-echo:b"), ("json-repair", "mock", "reply-json-on-repair:gpt"),
        ]
        for (name, provider, upstream) in models {
            try await fixture.admin.send(
                .PUT,
                "/admin/v1/models/\(name)",
                ["provider": .string(provider), "upstream_model": .string(upstream), "input_price_per_mtok": 1, "output_price_per_mtok": 2]
            )
        }
    }

    static let support: JSONValue = [
        "variables": [
            "customer": ["type": "string"],
            "tone": ["type": "enum", "values": ["formal", "casual"], "default": "formal"],
            "orders": ["type": "integer", "required": false],
        ],
        "variants": [
            [
                "name": "claude", "models": ["echo-claude", "claude*"], "system": "Claude, help {{customer}} in a {{tone}} tone.",
                "user": "Orders: {{orders}}",
            ],
            ["name": "default", "system": "You help {{ customer }} ({{tone}}).", "user": "Orders: {{orders}}"],
        ],
    ]

    static func ask(
        _ fixture: Fixture,
        _ node: RunningServer,
        key: String,
        route: String,
        variables: JSONValue,
        messages: JSONValue = [["role": "user", "content": "my order is late"]],
        stream: Bool = false
    ) async throws -> DataPlaneResponse {
        let body: JSONValue = [
            "model": .string(route), "messages": messages, "metadata": ["prompt_variables": variables, "team": "support"],
            "stream": .bool(stream),
        ]
        return try await callNode(fixture.http, node.url, key: key, body: String(decoding: body.serialized(), as: UTF8.self))
    }

    /// The request the upstream received, as the `reply-request` mock wrote it back.
    static func upstreamRequest(_ response: DataPlaneResponse) throws -> JSONValue {
        let content = try #require(response.json["choices"]?[0]?["message"]?["content"]?.stringValue, "\(response.body)")
        return try JSONValue(parsing: content.utf8)
    }

    @Test func rendersTheVariantOfEachModelThroughAFallback() async throws {
        try await Fixture.with { fixture in
            let key = try await fixture.seed()
            try await Self.addModels(fixture)
            let (created, version) = try await fixture.admin.send(.POST, "/admin/v1/tenants/acme/prompts/support/versions", Self.support)
            #expect(created == 201 && version["version"] == 1)
            try await fixture.admin.send(.PUT, "/admin/v1/tenants/acme/prompts/support/labels/production", ["version": 1])
            try await fixture.route(
                "help",
                spec: [
                    "default": ["model": "fail500", "prompt": "support@production"], "fallbacks": [["model": "echo-claude"]],
                    "retry": ["max_retries": 0],
                ]
            )
            try await fixture.route("direct", spec: ["default": ["model": "echo-gpt", "prompt": "support@1"]])
            try await fixture.route("gem", spec: ["default": ["model": "echo-gemini", "prompt": "support@1"]])
            let node = try await fixture.node()
            defer { Task { await node.stop() } }
            #expect(
                await eventually(timeout: .seconds(3)) {
                    try await Self.ask(fixture, node, key: key, route: "gem", variables: ["customer": "Ada"]).status == 200
                }
            )

            // OpenAI-format upstream: system first, the client's messages, the user template last.
            let direct = try await Self.ask(fixture, node, key: key, route: "direct", variables: ["customer": "Ada", "tone": "casual", "orders": 3])
            #expect(direct.status == 200, "\(direct.body)")
            #expect(direct.headers["x-switchyard-prompt"] == "support@1")
            let sent = try Self.upstreamRequest(direct)
            #expect(sent["messages"]?[0] == ["role": "system", "content": "You help Ada (casual)."])
            #expect(sent["messages"]?[1]?["content"] == "my order is late")
            #expect(sent["messages"]?[2] == ["role": "user", "content": "Orders: 3"])
            // The variables never reach the provider; the client's other metadata does.
            #expect(sent["metadata"] == ["team": "support"])

            // The primary fails; the Anthropic fallback gets the Claude variant, the default tone
            // and an empty optional variable.
            let fallback = try await Self.ask(fixture, node, key: key, route: "help", variables: ["customer": "Ada"])
            #expect(fallback.status == 200, "\(fallback.body)")
            #expect(fallback.headers["x-switchyard-model"] == "echo-claude")
            #expect(fallback.headers["x-switchyard-prompt"] == "support@1")
            #expect(fallback.headers["x-switchyard-fallback-reasons"]?.contains("fail500:status_500") == true)
            let anthropic = try Self.upstreamRequest(fallback)
            #expect(
                anthropic["system"]?.stringValue == "Claude, help Ada in a formal tone."
                    || anthropic["system"]?[0]?["text"] == "Claude, help Ada in a formal tone."
            )
            #expect(anthropic["messages"]?.arrayValue?.last?["content"]?.serializedString.contains("Orders: ") == true)

            // Gemini gets the default variant as its system instruction.
            let gemini = try await Self.ask(fixture, node, key: key, route: "gem", variables: ["customer": "Bo"])
            #expect(gemini.status == 200, "\(gemini.body)")
            #expect(try Self.upstreamRequest(gemini)["systemInstruction"]?.serializedString.contains("You help Bo (formal).") == true)

            // A prompt's user template may stand in for the whole conversation.
            let alone = try await Self.ask(fixture, node, key: key, route: "direct", variables: ["customer": "Cy"], messages: [])
            #expect(alone.status == 200, "\(alone.body)")
            #expect(try Self.upstreamRequest(alone)["messages"]?.arrayValue?.count == 2)
            // Without a prompt, an empty conversation is still refused.
            try await fixture.route("plain", "good")
            #expect(await fixture.waitForRoute(node, key: key, alias: "plain"))
            let empty = try await callNode(fixture.http, node.url, key: key, body: #"{"model":"plain","messages":[]}"#)
            #expect(empty.status == 400 && empty.json["error"]?["code"] == "empty_array")

            // Simulate shows the prompt each attempt renders.
            let (_, simulated) = try await fixture.admin.send(
                .POST,
                "/admin/v1/tenants/acme/routes/help/simulate",
                ["body": ["messages": [["role": "user", "content": "x"]]]]
            )
            #expect(simulated["attempts"]?.arrayValue?.map { $0["prompt"] } == ["support@1", "support@1"])
        }
    }

    @Test func variableErrorsNameTheVariableAndCallNoProvider() async throws {
        try await Fixture.with { fixture in
            let key = try await fixture.seed()
            try await Self.addModels(fixture)
            try await fixture.admin.send(.POST, "/admin/v1/tenants/acme/prompts/support/versions", Self.support)
            try await fixture.route("direct", spec: ["default": ["model": "echo-gpt", "prompt": "support@1"]])
            let node = try await fixture.node()
            defer { Task { await node.stop() } }
            #expect(
                await eventually(timeout: .seconds(3)) {
                    try await Self.ask(fixture, node, key: key, route: "direct", variables: ["customer": "Ada"]).status == 200
                }
            )
            try await fixture.resetMockCounts()
            let cases: [(JSONValue, String, String, String)] = [
                ([:], "missing_prompt_variable", "metadata.prompt_variables.customer", "'customer'"),
                (["customer": "Ada", "nickname": "A"], "unexpected_prompt_variable", "metadata.prompt_variables.nickname", "'nickname'"),
                (["customer": "Ada", "orders": "three"], "invalid_prompt_variable", "metadata.prompt_variables.orders", "'orders'"),
                (["customer": "Ada", "tone": "angry"], "invalid_prompt_variable", "metadata.prompt_variables.tone", "'tone'"),
                ("not an object", "invalid_prompt_variables", "metadata.prompt_variables", "prompt_variables"),
            ]
            for (variables, code, param, named) in cases {
                let response = try await Self.ask(fixture, node, key: key, route: "direct", variables: variables)
                #expect(response.status == 400, "\(variables): \(response.body)")
                #expect(response.json["error"]?["code"]?.stringValue == code, "\(variables): \(response.body)")
                #expect(response.json["error"]?["param"]?.stringValue == param, "\(variables): \(response.body)")
                #expect(response.json["error"]?["message"]?.stringValue?.contains(named) == true, "\(response.body)")
                #expect(response.headers["x-switchyard-route"] == "direct" && response.headers["x-switchyard-rule"] == "default")
            }
            // Simulate answers what the node would: the same refusal, without calling anything.
            let (_, simulated) = try await fixture.admin.send(
                .POST,
                "/admin/v1/tenants/acme/routes/direct/simulate",
                ["body": ["messages": [], "metadata": ["prompt_variables": ["nickname": "A"]]]]
            )
            #expect(simulated["refused"]?["status"] == 400 && simulated["refused"]?["code"] == "unexpected_prompt_variable", "\(simulated)")
            // Variables as a JSON string (typed SDKs allow only string metadata values) work too.
            let encoded = try await Self.ask(fixture, node, key: key, route: "direct", variables: #"{"customer":"Ada"}"#)
            #expect(encoded.status == 200, "\(encoded.body)")
            #expect(try await fixture.mockCounts()["reply-request:gpt"] == 1)
        }
    }

    @Test func labelsMoveVersionsWithHistoryAndDiff() async throws {
        try await Fixture.with { fixture in
            let key = try await fixture.seed()
            try await Self.addModels(fixture)
            let path = "/admin/v1/tenants/acme/prompts/support"
            try await fixture.admin.send(.POST, path + "/versions", Self.support)
            try await fixture.admin.send(.PUT, path + "/labels/production", ["version": 1])
            try await fixture.route("direct", spec: ["default": ["model": "echo-gpt", "prompt": "support@production"]])
            let node = try await fixture.node()
            defer { Task { await node.stop() } }

            // Version 2 changes the default system template; an identical post adds nothing.
            var second = Self.support
            second = .object(
                (second.objectValue ?? [:]).merging(
                    [
                        "variants": [
                            ["name": "default", "system": "You help {{customer}} kindly ({{tone}}).", "user": "Orders: {{orders}}"]
                        ]
                    ],
                    uniquingKeysWith: { _, new in new }
                )
            )
            let (status2, v2) = try await fixture.admin.send(
                .POST,
                path + "/versions",
                .object((second.objectValue ?? [:]).merging(["comment": "kinder"]) { $1 })
            )
            #expect(status2 == 201 && v2["version"] == 2)
            let (again, same) = try await fixture.admin.send(
                .POST,
                path + "/versions",
                .object((second.objectValue ?? [:]).merging(["comment": "kinder"]) { $1 })
            )
            #expect(again == 200 && same["version"] == 2)

            // Still version 1 until the label moves; then every node serves version 2.
            #expect(
                await eventually(timeout: .seconds(3)) {
                    try await Self.ask(fixture, node, key: key, route: "direct", variables: ["customer": "Ada"]).headers["x-switchyard-prompt"]
                        == "support@1"
                }
            )
            try await fixture.admin.send(.PUT, path + "/labels/production", ["version": 2])
            #expect(
                await eventually(timeout: .seconds(3)) {
                    let answer = try await Self.ask(fixture, node, key: key, route: "direct", variables: ["customer": "Ada"])
                    return try answer.headers["x-switchyard-prompt"] == "support@2"
                        && Self.upstreamRequest(answer)["messages"]?[0]?["content"] == "You help Ada kindly (formal)."
                }
            )

            // History (newest first, labels shown), one version, the prompt, and a diff.
            let (_, history) = try await fixture.admin.send(.GET, path + "/versions")
            #expect(history["data"]?.arrayValue?.map { $0["version"] } == [2, 1])
            #expect(history["data"]?[0]?["labels"] == ["production"])
            #expect(history["data"]?[0]?["comment"] == "kinder")
            let (_, prompt) = try await fixture.admin.send(.GET, path)
            #expect(prompt["labels"] == ["production": 2] && prompt["latest_version"] == 2)
            let (_, diff) = try await fixture.admin.send(.GET, path + "/diff?from=1&to=2")
            let text = try #require(diff["diff"]?.stringValue)
            #expect(diff["changed"] == true)
            #expect(text.contains("+ variants[0].system: \"You help {{customer}} kindly ({{tone}}).\""), "\(text)")
            #expect(text.contains("- variants[0].name: \"claude\""), "\(text)")
            let (_, audit) = try await fixture.admin.send(.GET, "/admin/v1/audit?object_type=prompt&action=move_label")
            #expect(audit["data"]?[0]?["detail"]?["before"]?["labels"] == ["production": 1])
            #expect(audit["data"]?[0]?["detail"]?["after"]?["version"] == 2)

            // What routes use cannot be deleted; unknown references and bad syntax name the field.
            let (inUse, conflict) = try await fixture.admin.send(.DELETE, path + "/labels/production", allow: [409])
            #expect(inUse == 409, "\(conflict)")
            let (promptInUse, _) = try await fixture.admin.send(.DELETE, path, allow: [409])
            #expect(promptInUse == 409)
            for (spec, field) in [
                (["default": ["model": "good", "prompt": "support@staging"]] as JSONValue, "default.prompt"),
                (["default": ["model": "good"], "fallbacks": [["model": "good-b", "prompt": "support@9"]]], "fallbacks[0].prompt"),
                (["default": ["model": "good", "prompt": "support"]], "default.prompt"),
                (["default": ["model": "good", "prompt": "nosuch@1"]], "default.prompt"),
            ] {
                let (status, error) = try await fixture.admin.send(.PUT, "/admin/v1/tenants/acme/routes/bad", spec, allow: [422])
                #expect(status == 422 && error["error"]?["field"]?.stringValue == field, "\(spec): \(error)")
            }
            let (badVersion, badBody) = try await fixture.admin.send(
                .POST,
                path + "/versions",
                ["variants": [["name": "x", "system": "Hi {{ nobody }}"]]],
                allow: [422]
            )
            #expect(badVersion == 422 && badBody["error"]?["field"] == "variants[0].system", "\(badBody)")
            let (badLabel, _) = try await fixture.admin.send(.PUT, path + "/labels/staging", ["version": 7], allow: [422])
            #expect(badLabel == 422)
            // A target whose model the prompt has no variant for is refused, at the target's field;
            // so is a label move that would leave a following route without one.
            let narrow = "/admin/v1/tenants/acme/prompts/narrow"
            try await fixture.admin.send(.POST, narrow + "/versions", ["variants": [["name": "gpt", "models": ["echo-*"], "system": "a"]]])
            try await fixture.admin.send(.POST, narrow + "/versions", ["variants": [["name": "good", "models": ["good"], "system": "b"]]])
            try await fixture.admin.send(.PUT, narrow + "/labels/prod", ["version": 1])
            try await fixture.route("narrow", spec: ["default": ["model": "echo-gpt", "prompt": "narrow@prod"]])
            let (uncovered, uncoveredError) = try await fixture.admin.send(
                .PUT,
                "/admin/v1/tenants/acme/routes/narrow2",
                ["default": ["model": "echo-gpt", "prompt": "narrow@1"], "fallbacks": [["model": "good"]]],
                allow: [422]
            )
            #expect(uncovered == 422 && uncoveredError["error"]?["field"] == "fallbacks[0].model", "\(uncoveredError)")
            let (move, moveError) = try await fixture.admin.send(.PUT, narrow + "/labels/prod", ["version": 2], allow: [409])
            #expect(move == 409 && moveError["error"]?["message"]?.stringValue?.contains("route 'narrow'") == true, "\(moveError)")
            // Text the database cannot store is refused with its field.
            let (nul, nulError) = try await fixture.admin.send(
                .POST,
                narrow + "/versions",
                ["variants": [["name": "x", "system": "a\u{0}b"]]],
                allow: [422]
            )
            #expect(nul == 422 && nulError["error"]?["field"] == "variants[0].system", "\(nulError)")

            // Once no route follows it, the label can go.
            try await fixture.route("direct", spec: ["default": ["model": "echo-gpt", "prompt": "support@2"]])
            let (deleted, _) = try await fixture.admin.send(.DELETE, path + "/labels/production")
            #expect(deleted == 204)
        }
    }

    /// A prompt's tools reach each provider under that provider's names and argument names, and
    /// the client always sees the prompt's own.
    @Test func toolsAreRenamedPerProviderAndMappedBack() async throws {
        try await Fixture.with { fixture in
            let key = try await fixture.seed()
            let tool: JSONValue = [
                "name": "lookup_order", "description": "Find an order",
                "parameters": ["type": "object", "required": ["order_id"], "properties": ["order_id": ["type": "string"]]],
                "names": ["anthropic": "lookupOrder"], "arguments": ["anthropic": ["order_id": "orderId"]],
            ]
            try await fixture.admin.send(
                .POST,
                "/admin/v1/tenants/acme/prompts/orders/versions",
                ["variants": [["name": "default", "system": "You look up orders."]], "tools": [tool]]
            )
            try await fixture.route("orders-claude", spec: ["default": ["model": "claude", "prompt": "orders@1"]])
            try await fixture.route("orders-gpt", spec: ["default": ["model": "good", "prompt": "orders@1"]])
            let node = try await fixture.node()
            defer { Task { await node.stop() } }
            for route in ["orders-claude", "orders-gpt"] {
                #expect(
                    await eventually(timeout: .seconds(3)) {
                        try await Self.ask(fixture, node, key: key, route: route, variables: [:]).status == 200
                    }
                )
                let answer = try await Self.ask(fixture, node, key: key, route: route, variables: [:])
                let call = answer.json["choices"]?[0]?["message"]?["tool_calls"]?[0]?["function"]
                #expect(call?["name"] == "lookup_order", "\(route): \(answer.body)")
                let arguments = try JSONValue(parsing: (call?["arguments"]?.stringValue ?? "").utf8)
                #expect(arguments == ["order_id": "mock"], "\(route)")
            }
            // Streams cannot be mapped back: a prompt that renames tools for Anthropic refuses them there.
            let streamed = try await Self.ask(fixture, node, key: key, route: "orders-claude", variables: [:], stream: true)
            #expect(streamed.status == 400, "\(streamed.body)")
        }
    }

    static func extract(recovery: String, fallbackVariant: Bool = false) -> JSONValue {
        var variants: [JSONValue] = [["name": "default", "user": "{{payload}}"]]
        if fallbackVariant { variants.insert(["name": "b", "models": ["json-echo-b"], "user": #"{"answer": "from fallback"}"#], at: 0) }
        return [
            "variables": ["payload": ["type": "string"]],
            "variants": .array(variants),
            "response_schema": ["type": "object", "required": ["answer"], "properties": ["answer": ["type": "string"]]],
            "on_invalid_output": .string(recovery),
        ]
    }

    @Test func invalidJSONIsRepairedOrFallsBackAndIsCounted() async throws {
        try await Fixture.with { fixture in
            let key = try await fixture.seed()
            try await Self.addModels(fixture)
            let prompts = "/admin/v1/tenants/acme/prompts"
            try await fixture.admin.send(.POST, prompts + "/extract/versions", Self.extract(recovery: "repair"))
            try await fixture.admin.send(.POST, prompts + "/extract-next/versions", Self.extract(recovery: "next_target", fallbackVariant: true))
            try await fixture.admin.send(.POST, prompts + "/extract-fail/versions", Self.extract(recovery: "fail"))
            try await fixture.route("valid", spec: ["default": ["model": "json-echo", "prompt": "extract@1"]])
            try await fixture.route("repair", spec: ["default": ["model": "json-repair", "prompt": "extract@1"]])
            try await fixture.route(
                "next",
                spec: ["default": ["model": "json-echo", "prompt": "extract-next@1"], "fallbacks": [["model": "json-echo-b"]]]
            )
            try await fixture.route("strict", spec: ["default": ["model": "json-echo", "prompt": "extract-fail@1"]])
            let node = try await fixture.node()
            defer { Task { await node.stop() } }
            let good = #"{"answer": "ok"}"#
            #expect(
                await eventually(timeout: .seconds(3)) {
                    try await Self.ask(fixture, node, key: key, route: "strict", variables: ["payload": .string(good)], messages: []).status == 200
                }
            )
            try await fixture.resetMockCounts()

            // Valid output passes untouched.
            let valid = try await Self.ask(fixture, node, key: key, route: "valid", variables: ["payload": .string(good)], messages: [])
            #expect(valid.status == 200)
            #expect(valid.json["choices"]?[0]?["message"]?["content"]?.stringValue == good)

            // Invalid first answer, one repair retry that fixes it.
            let repaired = try await Self.ask(fixture, node, key: key, route: "repair", variables: ["payload": .string(good)], messages: [])
            #expect(repaired.status == 200, "\(repaired.body)")
            #expect(repaired.json["choices"]?[0]?["message"]?["content"]?.stringValue == good)
            #expect(repaired.headers["x-switchyard-fallback-reasons"] == "json-repair:invalid_output")
            #expect(try await fixture.mockCounts()["reply-json-on-repair:gpt"] == 2)

            // A repair that does not fix it either: 502, after exactly two calls.
            let unfixable = try await Self.ask(fixture, node, key: key, route: "valid", variables: ["payload": "not json"], messages: [])
            #expect(unfixable.status == 502 && unfixable.json["error"]?["code"] == "invalid_output", "\(unfixable.body)")
            #expect(unfixable.json["error"]?["message"]?.stringValue?.contains("repair") == true)

            // next_target: the fallback (its own variant) answers.
            let next = try await Self.ask(fixture, node, key: key, route: "next", variables: ["payload": "not json"], messages: [])
            #expect(next.status == 200, "\(next.body)")
            #expect(next.headers["x-switchyard-model"] == "json-echo-b")
            #expect(next.json["choices"]?[0]?["message"]?["content"]?.stringValue == #"{"answer": "from fallback"}"#)

            // fail: no second call.
            try await fixture.resetMockCounts()
            let strict = try await Self.ask(fixture, node, key: key, route: "strict", variables: ["payload": "[1]"], messages: [])
            #expect(strict.status == 502 && strict.json["error"]?["code"] == "invalid_output")
            #expect(try await fixture.mockCounts()["reply-echo:gpt"] == 1)

            // A schema-checked prompt cannot stream: a clear 400.
            let streamed = try await Self.ask(
                fixture,
                node,
                key: key,
                route: "valid",
                variables: ["payload": .string(good)],
                messages: [],
                stream: true
            )
            #expect(streamed.status == 400 && streamed.json["error"]?["message"]?.stringValue?.contains("stream") == true, "\(streamed.body)")

            let metrics = try await callNode(fixture.http, node.url, key: nil, body: "", method: .GET, path: "/metrics")
            #expect(
                metrics.body.contains(
                    #"switchyard_quality_failures_total{route="acme/repair",model="json-repair",prompt="extract@1",kind="invalid_output"} 1"#
                )
            )
            #expect(
                metrics.body.contains(
                    #"switchyard_quality_failures_total{route="acme/valid",model="json-echo",prompt="extract@1",kind="repair_failed"} 1"#
                )
            )
            #expect(
                metrics.body.contains(
                    #"switchyard_quality_failures_total{route="acme/next",model="json-echo",prompt="extract-next@1",kind="invalid_output"} 1"#
                )
            )
        }
    }
}
