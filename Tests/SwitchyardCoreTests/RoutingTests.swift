import Testing

@testable import SwitchyardCore

struct RoutingTests {
    /// A key hash: any 64 hex digits (the table never hashes a secret here).
    static let keyHash = "0f0a3f0c0b7e0a70d2b4ec1cbac7a2bd1d7f1d5e3c6a4e9f5a8b3c2d1e0f9a8b"

    static func snapshot(fallbacks: [String] = ["backup"], routes: Int = 1) -> ConfigSnapshot {
        ConfigSnapshot(
            version: 7,
            providers: [
                ProviderConfig(
                    name: "p1",
                    kind: .openai,
                    baseURL: "https://one.example/v1",
                    credentials: [ProviderCredential(name: "default", key: "k1")]
                ),
                ProviderConfig(name: "p2", kind: .openaiCompatible, baseURL: "http://two.example/v1", credentials: []),
            ],
            models: [
                ModelConfig(name: "main", provider: "p1", upstreamModel: "gpt-x", inputPricePerMTok: 1, outputPricePerMTok: 2),
                ModelConfig(name: "main-mini", provider: "p1", upstreamModel: "gpt-x-mini", inputPricePerMTok: 1, outputPricePerMTok: 2),
                ModelConfig(name: "backup", provider: "p2", upstreamModel: "llama", inputPricePerMTok: 0, outputPricePerMTok: 0),
            ],
            tenants: [
                TenantConfig(
                    name: "acme",
                    version: 7,
                    keys: [APIKeyConfig(id: "key_1", name: "ci", prefix: "sk-sy-AAAAAAAA", sha256: Self.keyHash)],
                    routes: (0..<routes).map { index in
                        RouteConfig(
                            alias: index == 0 ? "chat" : "chat-\(index)",
                            revision: 3,
                            spec: RouteSpec(defaultBranch: .target(Target(model: "main")), fallbacks: fallbacks.map { Target(model: $0) })
                        )
                    }
                )
            ]
        )
    }

    static func plan(_ table: RoutingTable, _ alias: String = "chat") throws -> AttemptPlan {
        try table.plan(tenant: "acme", route: try table.route(tenant: "acme", alias: alias), facts: RequestFacts(keyID: "key_1"))
    }

    @Test func planRunsDefaultThenFallbacks() throws {
        let table = RoutingTable(Self.snapshot())
        let plan = try Self.plan(table)
        #expect(plan.route.revision == 3)
        #expect(plan.decision.rule == "default")
        #expect(plan.attempts.map(\.model.name) == ["main", "backup"])
        #expect(plan.attempts.map(\.provider.name) == ["p1", "p2"])
        #expect(plan.attempts.map(\.isFallback) == [false, true])
    }

    @Test func fallbacksPreferAnotherProviderAndSkipRepeats() throws {
        // Declared: same-provider model first, then the primary again, then another provider.
        let table = RoutingTable(Self.snapshot(fallbacks: ["main-mini", "main", "backup"]))
        let plan = try Self.plan(table)
        #expect(plan.attempts.map(\.model.name) == ["main", "backup", "main-mini"])
        #expect(plan.attempts[1].reason.contains("differs from the primary"))
        #expect(plan.attempts[2].reason.contains("same provider"))
        #expect(plan.skipped == [AttemptPlan.Skip(model: "main", reason: "fallbacks[1] repeats a model already in the plan")])
    }

    @Test func unknownAliasOrTenantIsUnknownModel() {
        let table = RoutingTable(Self.snapshot())
        #expect(throws: RoutingError.unknownModel("nope")) { try table.route(tenant: "acme", alias: "nope") }
        #expect(throws: RoutingError.unknownModel("chat")) { try table.route(tenant: "other", alias: "chat") }
    }

    @Test func keysIndexByHash() {
        let table = RoutingTable(Self.snapshot())
        #expect(table.keys.entry(sha256Hex: Self.keyHash)?.tenant == "acme")
        #expect(table.keys.entry(sha256Hex: Self.keyHash.uppercased())?.key.id == "key_1")
        #expect(table.keys.entry(sha256Hex: String(Self.keyHash.dropLast()) + "0") == nil)
        #expect(table.keys.entry(sha256Hex: "abc") == nil)
        #expect(table.keys.count == 1)
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
        (AttemptFailure.forStatus(500), true), (.forStatus(503), true), (.forStatus(429), true), (.forStatus(400), false),
        // The provider refusing the router (bad key, bad base URL) is a config fault: another target may work.
        (.forStatus(401), true), (.forStatus(404), true), (.forStatus(422), false), (.timeout("t"), true), (.connect("c"), true),
        (.interrupted("i"), true), (.circuitOpen, true),
    ])
    func fallbackOnlyOnTransportFailures(failure: AttemptFailure, expected: Bool) {
        #expect(failure.allowsFallback == expected)
    }

    @Test(arguments: [
        (AttemptFailure.forStatus(429), true, false), (.forStatus(500), true, true), (.forStatus(503), true, true),
        (.forStatus(501), false, true), (.connect("c"), true, true), (.interrupted("i"), true, true),
        (.timeout("t"), false, true), (.forStatus(401), false, false), (.forStatus(400), false, false),
    ])
    func retryAndHealthClassification(failure: AttemptFailure, retryable: Bool, unhealthy: Bool) {
        #expect(failure.isRetryable == retryable)
        #expect(failure.indicatesUnhealthy == unhealthy)
    }

    @Test func costUsesPerMillionPrices() {
        let model = ModelConfig(name: "m", provider: "p", upstreamModel: "u", inputPricePerMTok: 2, outputPricePerMTok: 8)
        #expect(model.cost(promptTokens: 1_000_000, completionTokens: 500_000) == 6)
    }
}
