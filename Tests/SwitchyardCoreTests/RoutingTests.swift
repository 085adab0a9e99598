import Testing

@testable import SwitchyardCore

struct RoutingTests {
    static func snapshot(fallbacks: [String] = ["backup"], routes: Int = 1) -> ConfigSnapshot {
        ConfigSnapshot(
            version: 7,
            providers: [
                ProviderConfig(name: "p1", kind: .openai, baseURL: "https://one.example/v1", apiKey: "k1"),
                ProviderConfig(name: "p2", kind: .openaiCompatible, baseURL: "http://two.example/v1", apiKey: nil),
            ],
            models: [
                ModelConfig(name: "main", provider: "p1", upstreamModel: "gpt-x", inputPricePerMTok: 1, outputPricePerMTok: 2),
                ModelConfig(name: "backup", provider: "p2", upstreamModel: "llama", inputPricePerMTok: 0, outputPricePerMTok: 0),
            ],
            tenants: [
                TenantConfig(
                    name: "acme",
                    version: 7,
                    keys: [APIKeyConfig(id: "key_1", name: "ci", prefix: "sk-sy-AAAAAAAA", sha256: "abc")],
                    routes: (0..<routes).map { index in
                        RouteConfig(
                            alias: index == 0 ? "chat" : "chat-\(index)",
                            revision: 3,
                            defaultTarget: Target(model: "main"),
                            fallbacks: fallbacks.map(Target.init(model:)),
                            timeouts: Timeouts()
                        )
                    }
                )
            ]
        )
    }

    @Test func planRunsDefaultThenFallbacks() throws {
        let table = RoutingTable(Self.snapshot())
        let plan = try table.plan(tenant: "acme", requestedModel: "chat")
        #expect(plan.route.revision == 3)
        #expect(plan.attempts.map(\.model.name) == ["main", "backup"])
        #expect(plan.attempts.map(\.provider.name) == ["p1", "p2"])
        #expect(plan.attempts.map(\.isFallback) == [false, true])
    }

    @Test func unknownAliasOrTenantIsUnknownModel() {
        let table = RoutingTable(Self.snapshot())
        #expect(throws: RoutingError.unknownModel("nope")) { try table.plan(tenant: "acme", requestedModel: "nope") }
        #expect(throws: RoutingError.unknownModel("chat")) { try table.plan(tenant: "other", requestedModel: "chat") }
    }

    @Test func keysIndexByHash() {
        let table = RoutingTable(Self.snapshot())
        #expect(table.keysByHash["abc"]?.tenant == "acme")
        #expect(table.keysByHash["abd"] == nil)
        #expect(table.tenants["acme"]?.aliases == ["chat"])
    }

    @Test func validSnapshotPassesValidation() throws {
        try Self.snapshot().validate(limits: SnapshotLimits())
    }

    @Test func validationRejectsDanglingReferencesAndLimits() {
        var dangling = Self.snapshot(fallbacks: ["ghost"])
        #expect(throws: SnapshotValidationError.self) { try dangling.validate(limits: SnapshotLimits()) }
        dangling = Self.snapshot()
        dangling.models[1].provider = "missing"
        #expect(throws: SnapshotValidationError.self) { try dangling.validate(limits: SnapshotLimits()) }

        var limits = SnapshotLimits()
        limits.maxRoutesPerTenant = 1
        #expect(throws: SnapshotValidationError.self) { try Self.snapshot(routes: 2).validate(limits: limits) }
        limits = SnapshotLimits()
        limits.maxFallbacks = 0
        #expect(throws: SnapshotValidationError.self) { try Self.snapshot().validate(limits: limits) }
    }

    @Test(arguments: [
        (AttemptFailure.status(500), true), (.status(503), true), (.status(429), true), (.status(400), false), (.status(401), false),
        (.status(404), false), (.status(422), false), (.timeout("t"), true), (.connect("c"), true), (.interrupted("i"), true),
    ])
    func fallbackOnlyOnTransportFailures(failure: AttemptFailure, expected: Bool) {
        #expect(failure.allowsFallback == expected)
    }

    @Test func costUsesPerMillionPrices() {
        let model = ModelConfig(name: "m", provider: "p", upstreamModel: "u", inputPricePerMTok: 2, outputPricePerMTok: 8)
        #expect(model.cost(promptTokens: 1_000_000, completionTokens: 500_000) == 6)
    }
}
