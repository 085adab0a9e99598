import Foundation
import NIOHTTP1
import PostgresNIO
import SwitchyardCLI
import SwitchyardControl
import SwitchyardCore
import SwitchyardTesting
import SwitchyardWire
import Testing

/// Tenant-scoped admin tokens and roles: a walk over every admin endpoint proves that a second
/// tenant's token can neither read, change nor detect the first tenant's objects, and that a
/// viewer can change nothing.
struct TenancyTests {
    enum Expect: Equatable {
        /// 404, exactly what an unknown tenant answers.
        case hidden
        case forbidden
        case allowed
    }

    /// A valid body for each write, so that only authorization can stop it.
    static let bodies: [String: JSONValue] = [
        "POST /admin/v1/tenants": ["name": "evil"],
        "PUT /admin/v1/tenants/{tenant}": ["display_name": "pwned"],
        "POST /admin/v1/tenants/{tenant}/keys": ["name": "evil"],
        "PATCH /admin/v1/tenants/{tenant}/keys/{key_id}": ["rate_limits": ["rpm": 1]],
        "POST /admin/v1/providers": ["name": "evil", "kind": "openai", "base_url": "http://127.0.0.1:9"],
        "PUT /admin/v1/providers/{provider}": ["kind": "openai", "base_url": "http://127.0.0.1:9"],
        "POST /admin/v1/models": ["name": "evil", "provider": "mock", "upstream_model": "x"],
        "PUT /admin/v1/models/{model}": ["provider": "mock", "upstream_model": "changed"],
        "POST /admin/v1/tenants/{tenant}/routes": ["alias": "evil", "default": ["model": "good"]],
        "PUT /admin/v1/tenants/{tenant}/routes/{alias}": ["default": ["model": "good-b"]],
        "POST /admin/v1/tenants/{tenant}/routes/{alias}/simulate": ["body": ["model": "r1", "messages": [["role": "user", "content": "hi"]]]],
        "POST /admin/v1/tokens": ["name": "evil", "role": "owner"],
        "POST /admin/v1/tenants/{tenant}/tokens": ["name": "evil", "role": "owner"],
        "POST /admin/v1/tenants/{tenant}/prompts/{prompt}/versions": TenancyTests.prompt(system: "changed"),
        "PUT /admin/v1/tenants/{tenant}/prompts/{prompt}/labels/{label}": ["version": 1],
        "PUT /admin/v1/tenants/{tenant}/budgets/{budget}": ["limit_usd": 1_000_000],
        "POST /admin/v1/models/{model}/prices": ["input_price_per_mtok": 0, "output_price_per_mtok": 0],
        "POST /admin/v1/prices/import": ["prices": [["model": "good", "input_price_per_mtok": 0, "output_price_per_mtok": 0]]],
        "PUT /admin/v1/tenants/{tenant}/webhooks/{webhook}": ["url": "http://127.0.0.1:9/evil"],
        "PUT /admin/v1/tenants/{tenant}/routes/{alias}/canary": ["candidate": ["model": "good-b"]],
    ]

    static func prompt(system: String) -> JSONValue {
        ["variants": [["name": "default", "system": .string(system)]]]
    }

    /// Endpoints every token may call (the model catalog is shared; lists are filtered).
    static let open: Set<String> = [
        "GET /admin/v1/config", "GET /admin/v1/whoami", "GET /admin/v1/models", "GET /admin/v1/models/{model}",
        "GET /admin/v1/tenants", "GET /admin/v1/audit", "GET /admin/v1/models/{model}/prices",
    ]

    static func isRead(_ method: String, _ path: String) -> Bool {
        method == "GET" || path.hasSuffix("/simulate")
    }

    /// What a token of tenant `other` (role owner) must meet on `acme`'s objects.
    static func foreignOwner(_ method: String, _ path: String) -> Expect {
        if path.contains("{tenant}") { return .hidden }
        return Self.open.contains("\(method) \(path)") ? .allowed : .forbidden
    }

    /// What a viewer of `acme` must meet.
    static func viewer(_ method: String, _ path: String) -> Expect {
        if Self.open.contains("\(method) \(path)") { return .allowed }
        if path.contains("{tenant}"), !path.contains("/tokens"), Self.isRead(method, path) { return .allowed }
        return .forbidden
    }

    struct Targets {
        var keyID: String
        var platformTokenID: String
        var tenantTokenID: String

        func concrete(_ template: String, tenant: String = "acme") -> String {
            template.replacingOccurrences(of: "{tenant}", with: tenant).replacingOccurrences(of: "{alias}", with: "r1")
                .replacingOccurrences(of: "{key_id}", with: self.keyID).replacingOccurrences(of: "{revision}", with: "1")
                .replacingOccurrences(of: "{provider}", with: "mock").replacingOccurrences(of: "{model}", with: "good")
                .replacingOccurrences(of: "{prompt}", with: "p").replacingOccurrences(of: "{version}", with: "1")
                .replacingOccurrences(of: "{label}", with: "production").replacingOccurrences(of: "{budget}", with: "cap")
                .replacingOccurrences(of: "{webhook}", with: "hook")
                .replacingOccurrences(
                    of: "{token_id}",
                    with: template.hasPrefix("/admin/v1/tokens") ? self.platformTokenID : self.tenantTokenID
                )
        }
    }

    /// Everything `acme` owns and the shared catalog, as the bootstrap token sees it.
    static func state(_ fixture: Fixture) async throws -> [JSONValue] {
        var result: [JSONValue] = []
        for path in [
            "/admin/v1/config", "/admin/v1/tenants", "/admin/v1/tenants/acme", "/admin/v1/tenants/acme/keys",
            "/admin/v1/tenants/acme/routes", "/admin/v1/tenants/acme/tokens", "/admin/v1/tokens", "/admin/v1/providers",
            "/admin/v1/models", "/admin/v1/tenants/acme/prompts", "/admin/v1/tenants/acme/prompts/p/versions",
            "/admin/v1/tenants/acme/budgets", "/admin/v1/models/good/prices", "/admin/v1/tenants/acme/webhooks",
            "/admin/v1/tenants/acme/webhooks/hook/deliveries", "/admin/v1/tenants/acme/routes/r1/canary",
        ] {
            result.append(try await fixture.admin.send(.GET, path).1)
        }
        return result
    }

    func token(_ fixture: Fixture, _ path: String, name: String, role: String) async throws -> (id: String, secret: String) {
        let (status, body) = try await fixture.admin.send(.POST, path, ["name": .string(name), "role": .string(role)])
        #expect(status == 201)
        return (try #require(body["id"]?.stringValue), try #require(body["secret"]?.stringValue))
    }

    /// Tenant `acme`'s prompt `p`, version 1, labelled `production`, budget `cap`, webhook `hook`
    /// and a canary on route `r1`.
    func seedPrompt(_ fixture: Fixture) async throws {
        try await fixture.admin.send(.POST, "/admin/v1/tenants/acme/prompts/p/versions", Self.prompt(system: "hello"))
        try await fixture.admin.send(.PUT, "/admin/v1/tenants/acme/prompts/p/labels/production", ["version": 1])
        try await fixture.admin.send(.PUT, "/admin/v1/tenants/acme/budgets/cap", ["limit_usd": 10])
        try await fixture.admin.send(.PUT, "/admin/v1/tenants/acme/webhooks/hook", ["url": "http://127.0.0.1:9/hook"])
        try await fixture.admin.send(.PUT, "/admin/v1/tenants/acme/routes/r1/canary", ["candidate": ["model": "good-b"]])
    }

    func walk(
        _ fixture: Fixture,
        as client: AdminClient,
        targets: Targets,
        expect: (String, String) -> Expect
    ) async throws {
        let before = try await Self.state(fixture)
        for endpoint in AdminAPI.endpoints {
            let label = "\(endpoint.method) \(endpoint.path)"
            let method = HTTPMethod(rawValue: endpoint.method)
            let body = Self.bodies[label] ?? (endpoint.method == "GET" || endpoint.method == "DELETE" ? nil : [:])
            let (status, answer) = try await client.send(method, targets.concrete(endpoint.path), body, allow: [403, 404])
            switch expect(endpoint.method, endpoint.path) {
            case .hidden:
                // The same request about a tenant that does not exist answers the same.
                let (ghostStatus, ghost) = try await client.send(
                    method,
                    targets.concrete(endpoint.path, tenant: "ghost"),
                    body,
                    allow: [403, 404]
                )
                #expect(status == 404, "\(label) answered \(status): \(answer)")
                #expect(answer["error"]?["code"] == "not_found", "\(label)")
                #expect(answer["error"]?["message"] == "tenant 'acme' does not exist", "\(label): \(answer)")
                #expect(ghostStatus == 404 && ghost["error"]?["message"] == "tenant 'ghost' does not exist", "\(label): \(ghost)")
            case .forbidden:
                #expect(status == 403, "\(label) answered \(status): \(answer)")
                #expect(answer["error"]?["code"] == "forbidden", "\(label)")
            case .allowed:
                #expect((200..<300).contains(status), "\(label) answered \(status): \(answer)")
            }
        }
        // Nothing changed, not even the config version.
        let after = try await Self.state(fixture)
        #expect(before == after)
    }

    @Test func foreignTenantTokenSeesAndChangesNothing() async throws {
        try await Fixture.with { fixture in
            try await fixture.seed()
            try await fixture.route("r1", "good")
            try await self.seedPrompt(fixture)
            try await fixture.admin.send(.POST, "/admin/v1/tenants", ["name": "other"])
            try await fixture.route("mine", "good", tenant: "other")
            let (_, keys) = try await fixture.admin.send(.GET, "/admin/v1/tenants/acme/keys")
            let keyID = try #require(keys["data"]?[0]?["id"]?.stringValue)
            let platform = try await self.token(fixture, "/admin/v1/tokens", name: "ops", role: "viewer")
            let acmeToken = try await self.token(fixture, "/admin/v1/tenants/acme/tokens", name: "acme-ci", role: "editor")
            let intruder = try await self.token(fixture, "/admin/v1/tenants/other/tokens", name: "other-owner", role: "owner")
            let client = AdminClient(client: fixture.http, baseURL: fixture.control.url, token: intruder.secret)
            let targets = Targets(keyID: keyID, platformTokenID: platform.id, tenantTokenID: acmeToken.id)

            try await self.walk(fixture, as: client, targets: targets, expect: Self.foreignOwner)

            // The open endpoints show only what is its own.
            let (_, tenants) = try await client.send(.GET, "/admin/v1/tenants")
            #expect(tenants["data"]?.arrayValue?.compactMap { $0["name"]?.stringValue } == ["other"])
            let (_, audit) = try await client.send(.GET, "/admin/v1/audit?limit=1000")
            let entries = try #require(audit["data"]?.arrayValue)
            #expect(!entries.isEmpty)
            #expect(entries.allSatisfy { $0["tenant"] == "other" })
            let (_, asked) = try await client.send(.GET, "/admin/v1/audit?tenant=acme")
            let (_, unknown) = try await client.send(.GET, "/admin/v1/audit?tenant=ghost")
            #expect(asked == unknown)
            #expect(asked["data"]?.arrayValue?.isEmpty == true)
            let (_, whoami) = try await client.send(.GET, "/admin/v1/whoami")
            #expect(whoami["tenant"] == "other" && whoami["role"] == "owner")
            // Its own tenant works.
            let (status, _) = try await client.send(.PUT, "/admin/v1/tenants/other/routes/two", ["default": ["model": "good"]])
            #expect(status == 201)
        }
    }

    @Test func viewerChangesNothing() async throws {
        try await Fixture.with { fixture in
            try await fixture.seed()
            try await fixture.route("r1", "good")
            try await self.seedPrompt(fixture)
            let (_, keys) = try await fixture.admin.send(.GET, "/admin/v1/tenants/acme/keys")
            let keyID = try #require(keys["data"]?[0]?["id"]?.stringValue)
            let platform = try await self.token(fixture, "/admin/v1/tokens", name: "ops", role: "owner")
            let editor = try await self.token(fixture, "/admin/v1/tenants/acme/tokens", name: "acme-ci", role: "editor")
            let viewer = try await self.token(fixture, "/admin/v1/tenants/acme/tokens", name: "acme-dash", role: "viewer")
            let client = AdminClient(client: fixture.http, baseURL: fixture.control.url, token: viewer.secret)
            let targets = Targets(keyID: keyID, platformTokenID: platform.id, tenantTokenID: editor.id)

            try await self.walk(fixture, as: client, targets: targets, expect: Self.viewer)

            // A platform viewer reads everything and writes nothing.
            let platformViewer = try await self.token(fixture, "/admin/v1/tokens", name: "auditor", role: "viewer")
            let auditor = AdminClient(client: fixture.http, baseURL: fixture.control.url, token: platformViewer.secret)
            let (status, providers) = try await auditor.send(.GET, "/admin/v1/providers")
            #expect(status == 200 && providers["data"]?.arrayValue?.isEmpty == false)
            let (denied, _) = try await auditor.send(.DELETE, "/admin/v1/tenants/acme/routes/r1", allow: [403])
            #expect(denied == 403)
        }
    }

    @Test func tokensAreHashedAuditedAndRevocable() async throws {
        try await Fixture.with { fixture in
            try await fixture.seed()
            let editor = try await self.token(fixture, "/admin/v1/tenants/acme/tokens", name: "acme-ci", role: "editor")
            let client = AdminClient(client: fixture.http, baseURL: fixture.control.url, token: editor.secret)

            // An editor changes config, signed with its name in the audit log; it cannot mint tokens.
            try await client.send(.PUT, "/admin/v1/tenants/acme/routes/chat", ["default": ["model": "good"]])
            let (_, audit) = try await fixture.admin.send(.GET, "/admin/v1/audit?object_type=route&object_id=acme/chat")
            #expect(audit["data"]?[0]?["actor"]?.stringValue == "acme-ci (\(editor.id))")
            let (minting, _) = try await client.send(.POST, "/admin/v1/tenants/acme/tokens", ["name": "x", "role": "owner"], allow: [403])
            #expect(minting == 403)

            // The listing never shows the secret, and the database holds only its SHA-256.
            let (_, list) = try await fixture.admin.send(.GET, "/admin/v1/tenants/acme/tokens")
            #expect(list["data"]?[0]?["secret"] == nil)
            #expect(!list.serializedString.contains(editor.secret))
            let postgres = PostgresClient(configuration: fixture.database)
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { await postgres.run() }
                let rows = try await postgres.query("SELECT secret_hash || ' ' || prefix || ' ' || name FROM admin_tokens")
                var stored: [String] = []
                for try await text in rows.decode(String.self) { stored.append(text) }
                #expect(stored.count == 1)
                #expect(!stored.contains { $0.contains(editor.secret) })
                #expect(stored.first?.hasPrefix(Hashing.sha256Hex(Data(editor.secret.utf8))) == true)
                group.cancelAll()
            }

            // Revoked: refused at once; bad input names the field.
            let (_, revoked) = try await fixture.admin.send(.DELETE, "/admin/v1/tenants/acme/tokens/\(editor.id)")
            #expect(revoked["revoked_at"] != .null)
            let (refused, _) = try await client.send(.GET, "/admin/v1/tenants/acme/routes", allow: [403])
            #expect(refused == 403)
            let (bad, error) = try await fixture.admin.send(.POST, "/admin/v1/tokens", ["name": "x", "role": "root"], allow: [422])
            #expect(bad == 422 && error["error"]?["field"] == "role")
            let (missing, _) = try await fixture.admin.send(.POST, "/admin/v1/tenants/ghost/tokens", ["name": "x", "role": "viewer"], allow: [404])
            #expect(missing == 404)
        }
    }
}

extension JSONValue {
    var serializedString: String { String(decoding: self.serialized(), as: UTF8.self) }
}
