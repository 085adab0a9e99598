import Testing

@testable import SwitchyardCore

/// The route spec: parsing with field paths, rule evaluation, sticky weighted selection.
struct RouteSpecTests {
    static func spec(_ text: String) throws -> RouteSpec {
        try RouteSpec(json: try JSONValue(parsing: text.utf8))
    }

    static func condition(_ text: String) throws -> Condition {
        var count = 0
        return try Condition(parsing: try JSONValue(parsing: text.utf8), path: "when", depth: 1, count: &count)
    }

    static let headers: [String: String] = ["x-team": "search", "x-priority": "7"]
    static var facts: RequestFacts {
        RequestFacts(
            tag: "summarize",
            user: "user-42",
            region: "eu-west",
            stream: true,
            tools: false,
            keyID: "key_1",
            keyName: "batch-jobs",
            tenantLabels: ["tier": "gold"],
            keyLabels: ["env": "prod"],
            metadata: ["feature": "inbox"],
            header: { RouteSpecTests.headers[$0] },
            promptTokens: { 12_000 }
        )
    }

    // MARK: Rule evaluation, table-driven

    @Test(arguments: [
        (#"{"field": "tag", "op": "eq", "value": "summarize"}"#, true),
        (#"{"field": "tag", "op": "eq", "value": "classify"}"#, false),
        (#"{"field": "tag", "op": "in", "value": ["classify", "summarize"]}"#, true),
        (#"{"field": "tag", "op": "prefix", "value": "summ"}"#, true),
        (#"{"field": "tag", "op": "exists"}"#, true),
        (#"{"field": "user", "op": "prefix", "value": "user-"}"#, true),
        (#"{"field": "region", "op": "prefix", "value": "eu-"}"#, true),
        (#"{"field": "region", "op": "eq", "value": "us-east"}"#, false),
        (#"{"field": "stream", "op": "eq", "value": true}"#, true),
        (#"{"field": "stream", "op": "exists"}"#, true),
        (#"{"field": "tools", "op": "exists"}"#, false),
        (#"{"field": "tools", "op": "eq", "value": false}"#, true),
        (#"{"field": "prompt_tokens", "op": "gt", "value": 8000}"#, true),
        (#"{"field": "prompt_tokens", "op": "lt", "value": 8000}"#, false),
        (#"{"field": "prompt_tokens", "op": "eq", "value": 12000}"#, true),
        (#"{"field": "header.X-Team", "op": "eq", "value": "search"}"#, true),
        (#"{"field": "header.x-priority", "op": "gt", "value": 5}"#, true),
        (#"{"field": "header.x-priority", "op": "eq", "value": 7}"#, true),
        (#"{"field": "header.x-missing", "op": "exists"}"#, false),
        (#"{"field": "header.x-missing", "op": "lt", "value": 5}"#, false),
        (#"{"field": "metadata.feature", "op": "eq", "value": "inbox"}"#, true),
        (#"{"field": "tenant.labels.tier", "op": "in", "value": ["gold", "platinum"]}"#, true),
        (#"{"field": "key.labels.env", "op": "eq", "value": "staging"}"#, false),
        (#"{"field": "key.name", "op": "eq", "value": "batch-jobs"}"#, true),
        (#"{"field": "key.id", "op": "eq", "value": "key_1"}"#, true),
        (#"{"all": [{"field": "tag", "op": "exists"}, {"field": "stream", "op": "eq", "value": true}]}"#, true),
        (#"{"all": [{"field": "tag", "op": "exists"}, {"field": "tools", "op": "exists"}]}"#, false),
        (#"{"any": [{"field": "tools", "op": "exists"}, {"field": "user", "op": "eq", "value": "user-42"}]}"#, true),
        (#"{"any": [{"field": "tools", "op": "exists"}, {"field": "user", "op": "eq", "value": "nobody"}]}"#, false),
        (#"{"not": {"field": "key.labels.env", "op": "eq", "value": "prod"}}"#, false),
        (#"{"not": {"field": "header.x-missing", "op": "exists"}}"#, true),
        (#"{"all": [{"any": [{"field": "tag", "op": "eq", "value": "x"}, {"not": {"field": "tools", "op": "exists"}}]}]}"#, true),
    ])
    func conditionMatches(text: String, expected: Bool) throws {
        #expect(try Self.condition(text).matches(Self.facts) == expected)
    }

    @Test func firstMatchingRuleWinsAndDefaultCatchesTheRest() throws {
        let spec = try Self.spec(
            """
            {"rules": [
               {"name": "long", "when": {"field": "prompt_tokens", "op": "gt", "value": 100000}, "then": {"model": "long-ctx"}},
               {"name": "summaries", "when": {"field": "tag", "op": "eq", "value": "summarize"}, "then": {"model": "cheap", "params": {"temperature": 0.1}}},
               {"name": "streams", "when": {"field": "stream", "op": "eq", "value": true}, "then": {"model": "fast"}}
             ],
             "default": {"model": "main"}}
            """
        )
        let decision = spec.decide(Self.facts, routeKey: "acme/chat")
        #expect(decision.rule == "summaries")
        #expect(decision.target == Target(model: "cheap", params: ["temperature": .double(0.1)]))
        #expect(decision.evaluated.map(\.rule) == ["long", "summaries"])
        #expect(decision.evaluated.map(\.matched) == [false, true])

        let quiet = RequestFacts(keyID: "key_9")
        let fallback = spec.decide(quiet, routeKey: "acme/chat")
        #expect(fallback.rule == "default")
        #expect(fallback.variant == "main")
        #expect(fallback.evaluated.count == 3)
    }

    // MARK: Sticky weighted selection

    @Test func splitIsStickyPerKeyAndIndependentOfRevisionOrder() throws {
        let spec = try Self.spec(
            #"{"default": {"split": [{"model": "a", "weight": 50}, {"model": "b", "weight": 50}]}}"#
        )
        for user in ["alice", "bob", "carol", "dave"] {
            let facts = RequestFacts(user: user, keyID: "k")
            let first = spec.decide(facts, routeKey: "acme/chat").variant
            for _ in 0..<5 { #expect(spec.decide(facts, routeKey: "acme/chat").variant == first) }
        }
        // The sticky header wins over `user`, which wins over the key id.
        #expect(RequestFacts(user: "u", keyID: "k", stickyKey: "s").stickyKey == "s")
        #expect(RequestFacts(user: "u", keyID: "k").stickyKey == "u")
        #expect(RequestFacts(keyID: "k").stickyKey == "k")
    }

    @Test func splitIsUniformWithinTolerance() throws {
        let spec = try Self.spec(
            #"{"default": {"split": [{"model": "a", "weight": 70}, {"model": "b", "weight": 20}, {"model": "c", "weight": 10}]}}"#
        )
        var counts: [String: Int] = [:]
        let total = 20_000
        for index in 0..<total {
            counts[spec.decide(RequestFacts(keyID: "k", stickyKey: "user-\(index)"), routeKey: "acme/chat").variant, default: 0] += 1
        }
        // Binomial standard deviation at n=20000 is at most ~0.35%; allow 1.5 points.
        for (variant, share) in [("a", 0.70), ("b", 0.20), ("c", 0.10)] {
            let observed = Double(counts[variant, default: 0]) / Double(total)
            #expect(abs(observed - share) < 0.015, "variant \(variant): \(observed)")
        }
    }

    @Test func raisingACanaryWeightOnlyMovesUsersTowardsIt() throws {
        let before = try Self.spec(#"{"default": {"split": [{"model": "stable", "weight": 90}, {"model": "canary", "weight": 10}]}}"#)
        let after = try Self.spec(#"{"default": {"split": [{"model": "stable", "weight": 80}, {"model": "canary", "weight": 20}]}}"#)
        var moved = 0
        for index in 0..<5_000 {
            let facts = RequestFacts(keyID: "k", stickyKey: "user-\(index)")
            let old = before.decide(facts, routeKey: "acme/chat").variant
            let new = after.decide(facts, routeKey: "acme/chat").variant
            #expect(!(old == "canary" && new == "stable"), "a canary user went back to stable")
            if old != new { moved += 1 }
        }
        #expect(moved > 300 && moved < 700, "about 10% should move, moved \(moved)")
    }

    @Test func stickyHashIsStable() {
        // Pinned values: the hash must never change between releases, or every user would move.
        #expect(StickyHash.hash("acme/chat#default", "user-1") == StickyHash.hash("acme/chat#default", "user-1"))
        #expect(StickyHash.hash("acme/chat#default", "user-1") != StickyHash.hash("acme/chat#default", "user-2"))
        #expect(StickyHash.hash("a", "bc") != StickyHash.hash("ab", "c"))
        // Computed independently (a Python transcription of FNV-1a + SplitMix64).
        #expect(StickyHash.hash("", "") == 5_705_415_379_283_624_141)
        #expect(StickyHash.hash("acme/chat#default", "user-1") == 0x4c2d_8117_1119_3adb)
    }

    // MARK: Parsing and canonical form

    @Test func canonicalFormRoundTripsAndSpellsOutDefaults() throws {
        let spec = try Self.spec(
            """
            {"rules": [{"name": "t", "when": {"field": "tag", "op": "exists"}, "then": {"split": [{"model": "a", "weight": 1, "variant": "a1"}, {"model": "a", "weight": 3, "variant": "a2", "params": {"max_tokens": 100}}]}}],
             "default": {"model": "main"}, "fallbacks": [{"model": "backup"}], "timeouts": {"total_ms": 5000}}
            """
        )
        let json = spec.json
        #expect(json["timeouts"]?["total_ms"] == 5000)
        #expect(json["timeouts"]?["first_token_ms"] == 30000)
        #expect(json["retry"]?["max_retries"] == 1)
        #expect(try RouteSpec(json: json) == spec)
        #expect(try RouteSpec(json: try JSONValue(parsing: json.serialized(sortedKeys: true))) == spec)
        #expect(spec.models == ["a", "main", "backup"])
        #expect(spec.path(ofModel: "backup") == "fallbacks[0].model")
        #expect(spec.path(ofModel: "a") == "rules[0].then.split[0].model")
    }

    @Test(arguments: [
        (#"{}"#, "default"),
        (
            #"{"default": {"model": "m"}, "rules": [{"name": "r", "when": {"field": "tagg", "op": "eq", "value": "x"}, "then": {"model": "m"}}]}"#,
            "rules[0].when.field"
        ),
        (
            #"{"default": {"model": "m"}, "rules": [{"name": "r", "when": {"all": [{"field": "tag", "op": "equals", "value": "x"}]}, "then": {"model": "m"}}]}"#,
            "rules[0].when.all[0].op"
        ),
        (
            #"{"default": {"model": "m"}, "rules": [{"name": "r", "when": {"field": "prompt_tokens", "op": "gt", "value": "big"}, "then": {"model": "m"}}]}"#,
            "rules[0].when.value"
        ),
        (
            #"{"default": {"model": "m"}, "rules": [{"name": "r", "when": {"field": "stream", "op": "prefix", "value": "t"}, "then": {"model": "m"}}]}"#,
            "rules[0].when.op"
        ),
        (
            #"{"default": {"model": "m"}, "rules": [{"name": "r", "when": {"field": "tag", "op": "exists", "value": 1}, "then": {"model": "m"}}]}"#,
            "rules[0].when.value"
        ),
        (
            #"{"default": {"model": "m"}, "rules": [{"name": "r", "when": {"field": "tag", "op": "in", "value": []}, "then": {"model": "m"}}]}"#,
            "rules[0].when.value"
        ),
        (#"{"default": {"model": "m"}, "rules": [{"name": "r", "when": {"any": []}, "then": {"model": "m"}}]}"#, "rules[0].when.any"),
        (#"{"default": {"model": "m"}, "rules": [{"name": "r", "when": {"field": "tag", "op": "exists"}}]}"#, "rules[0].then"),
        (
            #"{"default": {"model": "m"}, "rules": [{"name": "r", "when": {"field": "tag", "op": "exists"}, "then": {"model": "m"}}, {"name": "r", "when": {"field": "tag", "op": "exists"}, "then": {"model": "m"}}]}"#,
            "rules[1].name"
        ),
        (
            #"{"default": {"model": "m"}, "rules": [{"name": "default", "when": {"field": "tag", "op": "exists"}, "then": {"model": "m"}}]}"#,
            "rules[0].name"
        ),
        (#"{"default": {"split": []}}"#, "default.split"),
        (#"{"default": {"split": [{"model": "a"}]}}"#, "default.split[0].weight"),
        (#"{"default": {"split": [{"model": "a", "weight": 0}]}}"#, "default.split"),
        (#"{"default": {"split": [{"model": "a", "weight": 1}, {"model": "a", "weight": 1}]}}"#, "default.split[1].model"),
        (#"{"default": {"model": "m", "params": {"temperature": 3}}}"#, "default.params.temperature"),
        (#"{"default": {"model": "m", "params": {"max_tokens": 1.5}}}"#, "default.params.max_tokens"),
        (#"{"default": {"model": "m", "params": {"logit_bias": {}}}}"#, "default.params.logit_bias"),
        (#"{"default": {"model": "m", "params": {"stop": ["a", 1]}}}"#, "default.params.stop[1]"),
        (#"{"default": {"model": "m"}, "fallbacks": [{"model": "ok"}, {"modle": "x"}]}"#, "fallbacks[1].modle"),
        (#"{"default": {"model": "m"}, "timeouts": {"idle_ms": 0}}"#, "timeouts.idle_ms"),
        (#"{"default": {"model": "m"}, "retry": {"max_retries": 9}}"#, "retry.max_retries"),
        (#"{"default": {"model": "m"}, "retry": {"budget_ratio": 1.5}}"#, "retry.budget_ratio"),
        (#"{"default": {"model": "m"}, "retry": {"initial_backoff_ms": 500, "max_backoff_ms": 100}}"#, "retry.max_backoff_ms"),
        (#"{"default": {"model": "m"}, "surprise": 1}"#, "surprise"),
        (
            #"{"default": {"model": "m"}, "rules": [{"name": "r", "when": {"field": "tag", "op": "eq", "value": "a\u0000b"}, "then": {"model": "m"}}]}"#,
            "rules[0].when.value"
        ),
        (
            #"{"default": {"model": "m"}, "rules": [{"name": "r", "when": {"field": "tag", "op": "prefix", "value": "\u0000"}, "then": {"model": "m"}}]}"#,
            "rules[0].when.value"
        ),
        (#"{"default": {"model": "m", "params": {"stop": "x\u0000"}}}"#, "default.params.stop"),
    ])
    func badSpecsNameTheField(text: String, field: String) throws {
        #expect {
            try Self.spec(text)
        } throws: { error in
            (error as? FieldError)?.field == field
        }
    }

    @Test func deepOrHugeConditionsAreRefused() throws {
        var nested = #"{"field": "tag", "op": "exists"}"#
        for _ in 0..<RouteSpec.maxConditionDepth { nested = #"{"not": \#(nested)}"# }
        #expect(throws: FieldError.self) { try Self.condition(nested) }
        let many = (0...RouteSpec.maxConditions).map { _ in #"{"field": "tag", "op": "exists"}"# }.joined(separator: ",")
        #expect(throws: FieldError.self) { try Self.condition(#"{"any": [\#(many)]}"#) }
    }

    @Test func parameterOverridesReplaceTheClientsValues() throws {
        let chat = try ChatRequest(
            json: ["model": "m", "messages": [["role": "user", "content": "hi"]], "temperature": 1.5, "max_completion_tokens": 900]
        )
        let body = chat.upstreamBody(upstreamModel: "up", params: ["temperature": .double(0.2), "max_tokens": 100])
        #expect(body["model"] == "up")
        #expect(body["temperature"] == .double(0.2))
        #expect(body["max_tokens"] == 100)
        #expect(body["max_completion_tokens"] == nil, "the client's other token limit is dropped")
        let both = chat.upstreamBody(upstreamModel: "up", params: ["max_tokens": 100, "max_completion_tokens": 200])
        #expect(both["max_tokens"] == 100)
        #expect(both["max_completion_tokens"] == 200)
    }

    @Test func promptTokenEstimateCountsTextImagesAndTools() throws {
        let chat = try ChatRequest(
            json: [
                "model": "m",
                "messages": [
                    ["role": "system", "content": .string(String(repeating: "a", count: 400))],
                    ["role": "user", "content": [["type": "text", "text": .string(String(repeating: "b", count: 400))], ["type": "image_url"]]],
                ],
            ]
        )
        // 800 bytes of text = 200 tokens, 2 messages x 4, one image x 85.
        #expect(chat.estimatedPromptTokens == 200 + 8 + 85)
    }
}
