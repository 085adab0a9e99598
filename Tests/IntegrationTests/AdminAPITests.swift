import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import PostgresNIO
import SwitchyardCLI
import SwitchyardControl
import SwitchyardCore
import SwitchyardTesting
import Testing

/// The admin REST API against a real Postgres.
struct AdminAPITests {
    /// Sends raw text, for malformed bodies and bad tokens.
    func raw(
        _ fixture: Fixture,
        _ method: HTTPMethod,
        _ path: String,
        body: String? = nil,
        token: String?
    ) async throws -> (Int, JSONValue, HTTPHeaders) {
        var request = HTTPClientRequest(url: fixture.control.url + path)
        request.method = method
        if let token { request.headers.add(name: "authorization", value: "Bearer \(token)") }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await fixture.http.execute(request, timeout: .seconds(10))
        let data = try await response.body.collect(upTo: 1 << 20)
        let json = (try? JSONDecoder().decode(JSONValue.self, from: Data(buffer: data))) ?? .null
        return (Int(response.status.code), json, response.headers)
    }

    @Test func authIsRequired() async throws {
        try await Fixture.with { fixture in
            let missing = try await raw(fixture, .GET, "/admin/v1/tenants", token: nil)
            #expect(missing.0 == 401)
            #expect(missing.1["error"]?["code"] == "unauthenticated")
            let wrong = try await raw(fixture, .GET, "/admin/v1/tenants", token: "nope")
            #expect(wrong.0 == 403)
            #expect(wrong.1["error"]?["code"] == "forbidden")
        }
    }

    @Test func badInputGetsFieldPathsAndChangesNothing() async throws {
        try await Fixture.with { fixture in
            try await fixture.seed()
            let before = try await fixture.configVersion()
            let token = fixture.secrets.adminToken
            let cases: [(HTTPMethod, String, String, Int, String, String?)] = [
                (.POST, "/admin/v1/tenants", "{oops", 400, "invalid_json", nil),
                (.POST, "/admin/v1/tenants", "[]", 422, "invalid_field", "$"),
                (.POST, "/admin/v1/tenants", #"{"name":"Bad Name"}"#, 422, "invalid_field", "name"),
                (.POST, "/admin/v1/tenants", #"{"name":"ok","colour":"blue"}"#, 422, "invalid_field", "colour"),
                (.POST, "/admin/v1/providers", #"{"name":"p","kind":"azure","base_url":"https://x"}"#, 422, "invalid_field", "kind"),
                (.POST, "/admin/v1/providers", #"{"name":"p","kind":"openai","base_url":"ftp://x"}"#, 422, "invalid_field", "base_url"),
                (
                    .POST, "/admin/v1/models",
                    #"{"name":"m","provider":"mock","upstream_model":"u","input_price_per_mtok":-1,"output_price_per_mtok":1}"#, 422, "invalid_field",
                    "input_price_per_mtok"
                ),
                (
                    .POST, "/admin/v1/models",
                    #"{"name":"m","provider":"ghost","upstream_model":"u","input_price_per_mtok":1,"output_price_per_mtok":1}"#, 422, "invalid_field",
                    "provider"
                ),
                (.POST, "/admin/v1/tenants/acme/routes", #"{"alias":"r"}"#, 422, "invalid_field", "default"),
                (
                    .POST, "/admin/v1/tenants/acme/routes", #"{"alias":"r","default":{"model":"good"},"fallbacks":[{"model":"good"},{"modle":"x"}]}"#,
                    422, "invalid_field", "fallbacks[1].modle"
                ),
                (
                    .POST, "/admin/v1/tenants/acme/routes", #"{"alias":"r","default":{"model":"good"},"fallbacks":[{"model":"ghost"}]}"#, 422,
                    "invalid_field", "fallbacks[0].model"
                ),
                (
                    .POST, "/admin/v1/tenants/acme/routes", #"{"alias":"r","default":{"model":"good"},"timeouts":{"total_ms":0}}"#, 422,
                    "invalid_field", "timeouts.total_ms"
                ),
                (
                    .POST, "/admin/v1/tenants/acme/routes", #"{"alias":"r","default":{"model":"good"},"timeouts":{"total_ms":"fast"}}"#, 422,
                    "invalid_field", "timeouts.total_ms"
                ),
                (.PUT, "/admin/v1/tenants/acme/routes/r", #"{"alias":"other","default":{"model":"good"}}"#, 422, "invalid_field", "alias"),
                (.POST, "/admin/v1/tenants/ghost/routes", #"{"alias":"r","default":{"model":"good"}}"#, 404, "not_found", nil),
                (.POST, "/admin/v1/tenants", #"{"name":"acme"}"#, 409, "conflict", nil),
                (.DELETE, "/admin/v1/providers/mock", "", 409, "conflict", nil),
                (.GET, "/admin/v1/tenants/acme/routes/none/revisions/x", "", 404, "not_found", nil),
                (.GET, "/admin/v1/nothing-here", "", 404, "unknown_path", nil),
                (.PATCH, "/admin/v1/tenants/acme", "{}", 405, "method_not_allowed", nil),
                (.POST, "/admin/v1/config", "{}", 405, "method_not_allowed", nil),
                (.GET, "/admin/v1/audit?limit=0", "", 422, "invalid_field", "limit"),
                (.POST, "/admin/v1/tenants", #"{"name":"nul","display_name":"a\u0000b"}"#, 422, "invalid_field", "display_name"),
            ]
            for (method, path, body, status, code, field) in cases {
                let (got, json, _) = try await raw(fixture, method, path, body: body, token: token)
                #expect(got == status, "\(method) \(path) \(body)")
                #expect(json["error"]?["code"]?.stringValue == code, "\(method) \(path) \(body)")
                #expect(json["error"]?["field"]?.stringValue == field, "\(method) \(path) \(body)")
                #expect(json["error"]?["message"]?.stringValue?.isEmpty == false)
            }
            #expect(try await fixture.configVersion() == before, "a rejected write changed the config version")
        }
    }

    /// The control plane refuses writes its nodes would reject, instead of publishing a
    /// snapshot every node NACKs.
    @Test func nodeLimitsAreEnforcedOnWrite() async throws {
        let http = makeTestHTTPClient()
        let secrets = TestSecrets()
        var limits = SnapshotLimits()
        limits.maxKeysPerTenant = 1
        limits.maxRoutesPerTenant = 1
        let control = try await TestServers.control(database: try await TestPostgres.makeDatabase(), secrets: secrets, limits: limits)
        let admin = AdminClient.test(http, control, secrets)
        try await admin.send(.PUT, "/admin/v1/providers/p", ["kind": "openai", "base_url": "https://api.example.com/v1"])
        try await admin.send(
            .PUT,
            "/admin/v1/models/m",
            ["provider": "p", "upstream_model": "u", "input_price_per_mtok": 0, "output_price_per_mtok": 0]
        )
        try await admin.send(.POST, "/admin/v1/tenants", ["name": "t"])
        try await admin.send(.POST, "/admin/v1/tenants/t/keys", ["name": "one"])
        let (keyStatus, keyError) = try await admin.send(.POST, "/admin/v1/tenants/t/keys", ["name": "two"], allow: [409])
        #expect(keyStatus == 409)
        #expect(keyError["error"]?["message"]?.stringValue?.contains("limit") == true)
        try await admin.send(.PUT, "/admin/v1/tenants/t/routes/a", ["default": ["model": "m"]])
        // A new revision of an existing route is fine; a second route is not.
        try await admin.send(.PUT, "/admin/v1/tenants/t/routes/a", ["default": ["model": "m"], "comment": "again", "timeouts": ["total_ms": 5000]])
        let (routeStatus, _) = try await admin.send(.PUT, "/admin/v1/tenants/t/routes/b", ["default": ["model": "m"]], allow: [409])
        #expect(routeStatus == 409)
        await control.stop()
        try await http.shutdown()
    }

    @Test func routesKeepImmutableRevisions() async throws {
        try await Fixture.with { fixture in
            try await fixture.seed()
            let first = try await fixture.route("chat", "good")
            #expect(first["revision"] == 1)
            let second = try await fixture.route("chat", "good-b", fallbacks: ["good"])
            #expect(second["revision"] == 2)
            let versionBefore = try await fixture.configVersion()
            let unchanged = try await fixture.route("chat", "good-b", fallbacks: ["good"])
            #expect(unchanged["revision"] == 2, "an identical PUT must not make a revision")
            #expect(try await fixture.configVersion() == versionBefore)
            let (_, _, headers) = try await raw(
                fixture,
                .PUT,
                "/admin/v1/tenants/acme/routes/chat",
                body:
                    #"{"default":{"model":"good-b"},"fallbacks":[{"model":"good"}],"timeouts":{"first_token_ms":5000,"total_ms":20000},"retry":{"max_retries":0}}"#,
                token: fixture.secrets.adminToken
            )
            #expect(headers.first(name: "x-switchyard-config-version") == String(versionBefore))
            // A new comment alone is a new revision (it documents why).
            let (_, commented) = try await fixture.admin.send(
                .PUT,
                "/admin/v1/tenants/acme/routes/chat",
                [
                    "default": ["model": "good-b"], "fallbacks": [["model": "good"]],
                    "timeouts": ["first_token_ms": 5000, "total_ms": 20000], "retry": ["max_retries": 0], "comment": "why",
                ]
            )
            #expect(commented["revision"] == 3)
            #expect(commented["comment"] == "why")

            let (_, history) = try await fixture.admin.send(.GET, "/admin/v1/tenants/acme/routes/chat/revisions")
            #expect(history["data"]?.arrayValue?.compactMap { $0["revision"]?.intValue } == [3, 2, 1])
            let (_, old) = try await fixture.admin.send(.GET, "/admin/v1/tenants/acme/routes/chat/revisions/1")
            #expect(old["default"]?["model"] == "good")
            #expect(old["fallbacks"] == [])
            let (_, current) = try await fixture.admin.send(.GET, "/admin/v1/tenants/acme/routes/chat")
            #expect(current["fallbacks"]?[0]?["model"] == "good")
            #expect(current["timeouts"]?["first_token_ms"] == 5000)

            // A model used by a route cannot go; once the route moves off it, it can.
            let (status, _) = try await fixture.admin.send(.DELETE, "/admin/v1/models/good", allow: [409])
            #expect(status == 409)
            try await fixture.route("chat", "good-b")
            let (deleted, _) = try await fixture.admin.send(.DELETE, "/admin/v1/models/good")
            #expect(deleted == 204)
        }
    }

    /// Creates are decided inside the write transaction: of concurrent POSTs for one name,
    /// exactly one creates it and the others get 409.
    @Test func concurrentCreatesOfOneNameYieldOneWinner() async throws {
        try await Fixture.with { fixture in
            try await fixture.seed()
            let admin = fixture.admin
            let routeStatuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<6 {
                    group.addTask {
                        try await admin.send(
                            .POST,
                            "/admin/v1/tenants/acme/routes",
                            ["alias": "race", "default": ["model": "good"]],
                            allow: [409]
                        ).0
                    }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(routeStatuses.sorted() == [201, 409, 409, 409, 409, 409])
            let providerStatuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<6 {
                    group.addTask {
                        try await admin.send(
                            .POST,
                            "/admin/v1/providers",
                            ["name": "race", "kind": "openai", "base_url": "https://x.example/v1"],
                            allow: [409]
                        ).0
                    }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(providerStatuses.sorted() == [201, 409, 409, 409, 409, 409])
            let (_, history) = try await admin.send(.GET, "/admin/v1/tenants/acme/routes/race/revisions")
            #expect(history["data"]?.arrayValue?.count == 1)
        }
    }

    @Test func pathNamesArePercentDecodedAndBearerIsCaseInsensitive() async throws {
        try await Fixture.with { fixture in
            try await fixture.admin.send(.PUT, "/admin/v1/providers/pp:x", ["kind": "openai", "base_url": "https://x.example/v1"])
            let (status, body, _) = try await raw(fixture, .GET, "/admin/v1/providers/pp%3Ax", token: fixture.secrets.adminToken)
            #expect(status == 200)
            #expect(body["name"] == "pp:x")
            var request = HTTPClientRequest(url: fixture.control.url + "/admin/v1/config")
            request.headers.add(name: "authorization", value: "bearer \(fixture.secrets.adminToken)")
            let response = try await fixture.http.execute(request, timeout: .seconds(10))
            #expect(response.status == .ok)
        }
    }

    @Test func everyWriteIsAuditedAndBumpsTheVersion() async throws {
        try await Fixture.with { fixture in
            let start = try await fixture.configVersion()
            let (_, _, headers) = try await raw(fixture, .POST, "/admin/v1/tenants", body: #"{"name":"t1"}"#, token: fixture.secrets.adminToken)
            #expect(headers.first(name: "x-switchyard-config-version") == String(start + 1))
            try await fixture.admin.send(.PUT, "/admin/v1/providers/p", ["kind": "openai", "base_url": "https://api.example.com/v1"])
            #expect(try await fixture.configVersion() == start + 2)
            let (_, audit) = try await fixture.admin.send(.GET, "/admin/v1/audit?limit=2")
            let entries = try #require(audit["data"]?.arrayValue)
            #expect(entries.map { $0["object_type"]?.stringValue } == ["provider", "tenant"])
            #expect(entries.map { $0["config_version"]?.intValue } == [Int64(start + 2), Int64(start + 1)])
            #expect(entries.first?["actor"] == "admin")
        }
    }

    @Test func secretsAreShownOnceAndStoredSafely() async throws {
        try await Fixture.with { fixture in
            let key = try await fixture.seed()
            #expect(APIKeyFormat.prefix(of: key) != nil)
            let (_, keys) = try await fixture.admin.send(.GET, "/admin/v1/tenants/acme/keys")
            let listed = try #require(keys["data"]?[0])
            #expect(listed["secret"] == nil)
            #expect(listed["prefix"]?.stringValue == APIKeyFormat.prefix(of: key))

            let (_, provider) = try await fixture.admin.send(.GET, "/admin/v1/providers/mock")
            #expect(provider["has_api_key"] == true)
            #expect(provider["api_key"] == nil)
            #expect(!"\(provider)".contains("sk-upstream-secret"))

            // At rest: the key only as a SHA-256 hash, the provider key only as AES-GCM ciphertext.
            let client = PostgresClient(configuration: fixture.database, backgroundLogger: TestPostgres.logger)
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { await client.run() }
                let rows = try await client.query("SELECT secret_hash FROM api_keys", logger: TestPostgres.logger)
                for try await hash in rows.decode(String.self) {
                    #expect(hash.count == 64)
                    #expect(hash != key)
                }
                let sealed = try await client.query(
                    "SELECT credentials_sealed, credential_names::text FROM providers WHERE name = 'mock'",
                    logger: TestPostgres.logger
                )
                var found = 0
                for try await (data, names) in sealed.decode((Data, String).self) {
                    found += 1
                    #expect(!String(decoding: data, as: UTF8.self).contains("sk-upstream-secret"))
                    #expect(!names.contains("sk-upstream-secret"))
                    let masterKey = try MasterKey(base64: fixture.secrets.masterKey)
                    #expect(try masterKey.open(data).contains("\"key\":\"sk-upstream-secret\""))
                }
                #expect(found == 1)
                group.cancelAll()
            }
        }
    }
}

struct MigrationSplitTests {
    @Test func splitsOnTopLevelSemicolonsOnly() {
        let sql = """
            -- a comment; with a semicolon
            CREATE TABLE a (x TEXT DEFAULT 'semi;colon');
            /* block; comment */
            CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;
            INSERT INTO "we;ird" VALUES ('it''s; fine')
            """
        let statements = Migrations.statements(sql)
        #expect(statements.count == 3)
        #expect(statements[0] == "CREATE TABLE a (x TEXT DEFAULT 'semi;colon')")
        #expect(statements[1].hasSuffix("$body$ SELECT 1; $body$ LANGUAGE sql"))
        #expect(statements[2] == #"INSERT INTO "we;ird" VALUES ('it''s; fine')"#)
    }

    @Test func embeddedMigrationsMatchTheFiles() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let folder = root.appendingPathComponent("migrations")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".sql") }.sorted()
        #expect(files.count == Migrations.all.count, "run scripts/embed-migrations.sh")
        for (file, migration) in zip(files, Migrations.all) {
            let text = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
            #expect(text == migration.sql + "\n" || text == migration.sql, "\(file) differs from the embedded copy; run scripts/embed-migrations.sh")
            #expect(file.hasPrefix(String(format: "%04d_", migration.version)))
        }
    }
}
