import ArgumentParser
import Foundation
import NIOHTTP1
import SwitchyardCore
import SwitchyardTesting
import Testing

@testable import SwitchyardCLI

/// `switchyard apply | get | diff | history | routes simulate` against a real control plane.
@Suite(.serialized) struct CLITests {
    static let file = """
        # Config as code: applied in dependency order, whatever the order here.
        object: route
        tenant: shop
        alias: support
        comment: frozen default, a tag rule, a cross-provider fallback
        default: {model: support-main}
        rules:
          - name: summaries
            when: {field: tag, op: eq, value: summarize}
            then: {model: support-cheap, params: {temperature: 0.2}}
        fallbacks:
          - model: support-cheap
        ---
        object: tenant
        name: shop
        display_name: The shop
        labels: {tier: gold}
        ---
        object: provider
        name: cli-upstream
        kind: openai_compatible
        base_url: http://127.0.0.1:9/v1
        api_key_env: CLI_TEST_UPSTREAM_KEY
        ---
        - object: model
          name: support-main
          provider: cli-upstream
          upstream_model: main-v1
          input_price_per_mtok: 1
          output_price_per_mtok: 2
        - object: model
          name: support-cheap
          provider: cli-upstream
          upstream_model: cheap-v1
          input_price_per_mtok: 0.1
          output_price_per_mtok: 0.2
        """

    func write(_ text: String, name: String = "config.yaml") throws -> String {
        let path = temporaryDirectory() + "/" + name
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    func connection(_ fixture: Fixture) -> [String] {
        ["--admin-url", fixture.control.url, "--admin-token", fixture.secrets.adminToken, "--env-file", "/nonexistent"]
    }

    @Test func applyIsIdempotentAndGetRoundTrips() async throws {
        setenv("CLI_TEST_UPSTREAM_KEY", "sk-from-the-environment", 1)
        try await Fixture.with { fixture in
            let path = try self.write(Self.file)
            var apply = try ApplyCommand.parse(["-f", path] + self.connection(fixture))
            try await apply.run()
            let (_, route) = try await fixture.admin.send(.GET, "/admin/v1/tenants/shop/routes/support")
            #expect(route["revision"] == 1)
            #expect(route["rules"]?[0]?["then"]?["params"]?["temperature"] == .double(0.2))
            let (_, tenant) = try await fixture.admin.send(.GET, "/admin/v1/tenants/shop")
            #expect(tenant["labels"]?["tier"] == "gold")
            let (_, provider) = try await fixture.admin.send(.GET, "/admin/v1/providers/cli-upstream")
            #expect(provider["has_api_key"] == true)

            // Applying the same file again changes nothing: no revision, no config version.
            let version = try await fixture.configVersion()
            apply = try ApplyCommand.parse(["-f", path] + self.connection(fixture))
            try await apply.run()
            #expect(try await fixture.configVersion() == version)
            #expect(try await fixture.admin.send(.GET, "/admin/v1/tenants/shop/routes/support").1["revision"] == 1)

            // What `get` prints applies back unchanged.
            let documents = GetCommand.document(route, kind: .route, tenant: "shop")
            let again = try self.write(ConfigDocuments.render(documents, yaml: true), name: "got.yaml")
            apply = try ApplyCommand.parse(["-f", again] + self.connection(fixture))
            try await apply.run()
            #expect(try await fixture.configVersion() == version)

            // A changed file makes one new revision, and diff shows it.
            let changed = try self.write(Self.file.replacingOccurrences(of: "temperature: 0.2", with: "temperature: 0.5"), name: "changed.yaml")
            var diff = try DiffCommand.parse(["-f", changed] + self.connection(fixture))
            await #expect(throws: ExitCode(1)) { try await diff.run() }
            apply = try ApplyCommand.parse(["-f", changed] + self.connection(fixture))
            try await apply.run()
            #expect(try await fixture.admin.send(.GET, "/admin/v1/tenants/shop/routes/support").1["revision"] == 2)
            diff = try DiffCommand.parse(["-f", changed] + self.connection(fixture))
            try await diff.run()
            diff = try DiffCommand.parse(["support", "--tenant", "shop"] + self.connection(fixture))
            await #expect(throws: ExitCode(1)) { try await diff.run() }
            let history = try HistoryCommand.parse(["support", "--tenant", "shop"] + self.connection(fixture))
            try await history.run()
            let simulate = try RoutesCommand.SimulateCommand.parse(
                ["support", "--tenant", "shop", "-H", "x-switchyard-tag: summarize"] + self.connection(fixture)
            )
            try await simulate.run()
        }
    }

    static let promptFile = """
        object: route
        tenant: shop
        alias: helper
        default: {model: helper-model, prompt: "support@production"}
        ---
        object: prompt
        tenant: shop
        name: support
        labels: [production]
        comment: first cut
        variables:
          customer: {type: string}
        variants:
          - name: default
            system: |
              You help {{customer}}.
              Be brief.
        ---
        object: tenant
        name: shop
        ---
        object: provider
        name: cli-upstream
        kind: openai_compatible
        base_url: http://127.0.0.1:9/v1
        ---
        object: model
        name: helper-model
        provider: cli-upstream
        upstream_model: m
        input_price_per_mtok: 1
        output_price_per_mtok: 1
        """

    /// Prompts as code: a file's prompt is the version wanted and the labels pointing at it;
    /// applied before the routes that use it, idempotent, diffable, and `get` round-trips.
    @Test func promptsApplyAsVersionsWithLabels() async throws {
        try await Fixture.with { fixture in
            let path = try self.write(Self.promptFile)
            var apply = try ApplyCommand.parse(["-f", path] + self.connection(fixture))
            try await apply.run()
            let base = "/admin/v1/tenants/shop/prompts/support"
            var (_, prompt) = try await fixture.admin.send(.GET, base)
            #expect(prompt["latest_version"] == 1 && prompt["labels"] == ["production": 1])
            #expect(prompt["latest"]?["variants"]?[0]?["system"] == "You help {{customer}}.\nBe brief.\n")
            let version = try await fixture.configVersion()
            apply = try ApplyCommand.parse(["-f", path] + self.connection(fixture))
            try await apply.run()
            #expect(try await fixture.configVersion() == version)

            // `get` prints a document that applies back unchanged.
            let document = GetCommand.document(prompt, kind: .prompt, tenant: "shop")
            #expect(document["labels"] == ["production"] && document["object"] == "prompt")
            let got = try self.write(ConfigDocuments.render(document, yaml: true), name: "got.yaml")
            apply = try ApplyCommand.parse(["-f", got] + self.connection(fixture))
            try await apply.run()
            #expect(try await fixture.configVersion() == version)

            // A changed template: diff reports it, apply adds version 2 and moves the label.
            let changed = try self.write(Self.promptFile.replacingOccurrences(of: "Be brief.", with: "Be very brief."), name: "changed.yaml")
            let diff = try DiffCommand.parse(["-f", changed] + self.connection(fixture))
            await #expect(throws: ExitCode(1)) { try await diff.run() }
            apply = try ApplyCommand.parse(["-f", changed] + self.connection(fixture))
            try await apply.run()
            (_, prompt) = try await fixture.admin.send(.GET, base)
            #expect(prompt["latest_version"] == 2 && prompt["labels"] == ["production": 2])
            let same = try DiffCommand.parse(["-f", changed] + self.connection(fixture))
            try await same.run()
        }
    }

    /// Budgets and rate limits as code: a budget file applies (defaults filled in), re-applies
    /// unchanged, diffs, and `get budgets` round-trips; credential capacity survives `get provider`.
    @Test func budgetsAndRateLimitsApplyFromFiles() async throws {
        try await Fixture.with { fixture in
            let path = try self.write(
                """
                object: tenant
                name: shop
                rate_limits: {rpm: 600, tpm: 200000}
                ---
                object: budget
                tenant: shop
                name: monthly
                limit_usd: 250
                alert_thresholds_percent: [80, 50]
                ---
                object: provider
                name: capped
                kind: openai
                base_url: https://api.example.com/v1
                credentials:
                  - {name: main, key_env: CLI_TEST_UPSTREAM_KEY, capacity: {rpm: 500}}
                """,
                name: "budgets.yaml"
            )
            setenv("CLI_TEST_UPSTREAM_KEY", "sk-cli-budget-test", 1)
            var apply = try ApplyCommand.parse(["-f", path] + self.connection(fixture))
            try await apply.run()
            let (_, tenant) = try await fixture.admin.send(.GET, "/admin/v1/tenants/shop")
            #expect(tenant["rate_limits"] == ["rpm": 600, "tpm": 200_000])
            var (_, budget) = try await fixture.admin.send(.GET, "/admin/v1/tenants/shop/budgets/monthly")
            #expect(budget["limit_usd"] == 250.0 && budget["period"] == "month" && budget["alert_thresholds_percent"] == [50, 80], "\(budget)")
            // Unchanged: nothing written.
            let version = try await fixture.configVersion()
            apply = try ApplyCommand.parse(["-f", path] + self.connection(fixture))
            try await apply.run()
            #expect(try await fixture.configVersion() == version)
            // `get budgets` prints what applies back unchanged.
            let (_, list) = try await fixture.admin.send(.GET, "/admin/v1/tenants/shop/budgets")
            let document = GetCommand.document(try #require(list["data"]?[0]), kind: .budget, tenant: "shop")
            #expect(document["current"] == nil && document["object"] == "budget" && document["tenant"] == "shop")
            let got = try self.write(ConfigDocuments.render(document, yaml: true), name: "got-budget.yaml")
            try await DiffCommand.parse(["-f", got] + self.connection(fixture)).run()
            // A changed limit: diff says so, apply writes it.
            let changed = try self.write(
                "object: budget\ntenant: shop\nname: monthly\nlimit_usd: 300\nalert_thresholds_percent: [50, 80]\n",
                name: "changed-budget.yaml"
            )
            await #expect(throws: ExitCode(1)) { try await DiffCommand.parse(["-f", changed] + self.connection(fixture)).run() }
            apply = try ApplyCommand.parse(["-f", changed] + self.connection(fixture))
            try await apply.run()
            (_, budget) = try await fixture.admin.send(.GET, "/admin/v1/tenants/shop/budgets/monthly")
            #expect(budget["limit_usd"] == 300.0)
            let (_, provider) = try await fixture.admin.send(.GET, "/admin/v1/providers/capped")
            let providerDocument = GetCommand.document(provider, kind: .provider, tenant: nil)
            #expect(providerDocument["credentials"]?[0]?["capacity"] == ["rpm": 500, "tpm": nil], "\(providerDocument)")
        }
    }

    /// `diff -f` agrees with what `apply` would do: a tenant file without labels would clear them.
    @Test func diffShowsThatApplyWouldResetOmittedTenantFields() async throws {
        try await Fixture.with { fixture in
            try await fixture.admin.send(.POST, "/admin/v1/tenants", ["name": "shop", "labels": ["tier": "gold"]])
            let path = try self.write("object: tenant\nname: shop\n")
            let diff = try DiffCommand.parse(["-f", path] + self.connection(fixture))
            await #expect(throws: ExitCode(1)) { try await diff.run() }
            let same = try self.write("object: tenant\nname: shop\nlabels: {tier: gold}\n", name: "same.yaml")
            let unchanged = try DiffCommand.parse(["-f", same] + self.connection(fixture))
            try await unchanged.run()
        }
    }

    @Test func badObjectsAreRefusedWithTheirFieldAndTheRestApplies() async throws {
        try await Fixture.with { fixture in
            let path = try self.write(
                """
                object: tenant
                name: shop
                ---
                object: route
                tenant: shop
                alias: broken
                default: {model: support-main}
                rules: [{name: r, when: {field: tag, op: like, value: x}, then: {model: support-main}}]
                """
            )
            let apply = try ApplyCommand.parse(["-f", path] + self.connection(fixture))
            await #expect(throws: ExitCode(1)) { try await apply.run() }
            #expect(try await fixture.admin.send(.GET, "/admin/v1/tenants/shop", allow: [404]).0 == 200)
            #expect(try await fixture.admin.send(.GET, "/admin/v1/tenants/shop/routes/broken", allow: [404]).0 == 404)
        }
    }

    @Test func documentsParseFromYAMLAndJSON() throws {
        let objects = try ConfigDocuments.parse(Self.file, name: "x.yaml", environment: ["CLI_TEST_UPSTREAM_KEY": "k"])
        #expect(objects.map(\.kind) == [.route, .tenant, .provider, .model, .model])
        #expect(objects[2].body["api_key"] == "k")
        #expect(objects[2].body["api_key_env"] == nil)
        #expect(objects[0].path == "/admin/v1/tenants/shop/routes/support")
        let json = try ConfigDocuments.parse(#"[{"object": "model", "name": "a/b", "provider": "p"}]"#, name: "x.json")
        #expect(json[0].path == "/admin/v1/models/a%2Fb")
        #expect(throws: ConfigFileError.self) { try ConfigDocuments.parse("object: widget\nname: x", name: "x.yaml") }
        #expect(throws: ConfigFileError.self) { try ConfigDocuments.parse("object: route\nalias: x", name: "x.yaml") }
        #expect(throws: ConfigFileError.self) {
            try ConfigDocuments.parse("object: provider\nname: p\napi_key_env: NOPE_NOT_SET", name: "x.yaml", environment: [:])
        }
    }

    @Test func yamlWriterRoundTripsThroughTheParser() throws {
        let value: JSONValue = [
            "object": "route", "tenant": "t", "alias": "a", "comment": "yes: it's \"quoted\"\nover lines",
            "default": [
                "split": [["model": "gpt-4o", "weight": 90, "variant": "true"], ["model": "1.5", "weight": 10, "params": ["temperature": 0.5]]]
            ],
            "rules": [], "labels": ["on": "off", "empty": ""],
        ]
        let text = ConfigDocuments.render(value, yaml: true)
        #expect(text.contains("temperature: 0.5"))
        let parsed = try ConfigDocuments.parse(text, name: "x.yaml")
        #expect(parsed.count == 1)
        var body = value.objectValue ?? [:]
        for key in ["object", "tenant", "alias"] { body[key] = nil }
        #expect(parsed[0].body == body)
    }

    @Test func lineDiffShowsOnlyChangesWithContext() {
        #expect(LineDiff.render("a\nb\nc", "a\nb\nc") == "")
        #expect(LineDiff.render("a\nb\nc", "a\nB\nc", context: 0) == "- b\n+ B\n")
        let long = (1...20).map(String.init).joined(separator: "\n")
        let edited = long.replacingOccurrences(of: "\n10\n", with: "\nten\n")
        let text = LineDiff.render(long, edited, context: 1)
        #expect(text == "  9\n- 10\n+ ten\n  11\n")
    }
}
