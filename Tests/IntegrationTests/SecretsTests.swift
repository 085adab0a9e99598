import Foundation
import NIOHTTP1
import PostgresNIO
import SwitchyardControl
import SwitchyardCore
import SwitchyardTesting
import Testing

@testable import SwitchyardCLI

/// Provider secrets never leave the control plane in clear: not in answers, logs or the nodes'
/// disk copies; and the master key can be rotated without losing them.
@Suite(.serialized) struct SecretsTests {
    static let secret = "sk-planted-\(UUID().uuidString)"

    @Test func aPlantedSecretAppearsInNoAnswerLogOrSnapshotOnDisk() async throws {
        let state = temporaryDirectory()
        var bodies: [String] = []
        let lines = try await LogCapture.capturing {
            try await Fixture.with { fixture in
                let key = try await fixture.seed()
                let mock = fixture.mock.url + "/v1"
                for (path, body) in [
                    ("/admin/v1/providers/planted", ["kind": "openai_compatible", "base_url": .string(mock), "api_key": .string(Self.secret)]),
                    (
                        "/admin/v1/providers/planted-multi",
                        [
                            "kind": "anthropic", "base_url": .string(mock),
                            "credentials": [["name": "a", "key": .string(Self.secret + "-a")], ["name": "b", "key": .string(Self.secret + "-b")]],
                        ]
                    ),
                ] as [(String, JSONValue)] {
                    let (_, answer) = try await fixture.admin.send(.PUT, path, body)
                    bodies.append(answer.serializedText)
                    // The same PUT again (the no-op path decrypts to compare).
                    bodies.append(try await fixture.admin.send(.PUT, path, body).1.serializedText)
                }
                for (name, provider, upstream) in [("planted-ok", "planted", "ok"), ("planted-401", "planted", "fault-401:x")] {
                    try await fixture.admin.send(
                        .PUT,
                        "/admin/v1/models/\(name)",
                        ["provider": .string(provider), "upstream_model": .string(upstream), "input_price_per_mtok": 1, "output_price_per_mtok": 1]
                    )
                }
                try await fixture.route("ok", "planted-ok")
                try await fixture.route("refused", "planted-401")
                let node = try await fixture.node(stateDirectory: state)
                #expect(await fixture.waitForRoute(node, key: key, alias: "ok", timeout: .seconds(5)))
                // Both routes reached the node (they are two config versions).
                try await BudgetTests.waitForNodes(fixture, count: 1)
                // The mock's 401 body echoes the key it got; the node must not pass it on.
                let refused = try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "refused"))
                #expect(refused.status == 502)
                bodies.append(refused.body)
                bodies.append(try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "ok", stream: true)).body)
                for path in ["/admin/v1/providers", "/admin/v1/providers/planted", "/admin/v1/providers/planted-multi", "/admin/v1/audit?limit=1000"]
                {
                    bodies.append(try await fixture.admin.send(.GET, path).1.serializedText)
                }
                bodies.append(
                    try await fixture.admin.send(
                        .POST,
                        "/admin/v1/tenants/acme/routes/ok/simulate",
                        ["body": ["messages": [["role": "user", "content": "x"]]]]
                    ).1.serializedText
                )
                await node.stop()
            }
        }
        for body in bodies { #expect(!body.contains(Self.secret)) }
        #expect(!lines.isEmpty, "the capture saw the servers' logs")
        let leaking = lines.filter { $0.contains(Self.secret) }
        #expect(leaking.isEmpty, "\(leaking.prefix(3))")
        // Every file of the node's disk copy (the manifest and each shard) holds the key sealed only.
        let files = try #require(FileManager.default.enumerator(atPath: state)?.allObjects as? [String])
        #expect(files.contains("manifest.pb") && files.contains { $0.hasPrefix("shards/") }, "\(files)")
        for file in files {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: state + "/" + file, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
            let bytes = try Data(contentsOf: URL(fileURLWithPath: state + "/" + file))
            #expect(bytes.range(of: Data(Self.secret.utf8)) == nil, "\(file) holds the key sealed only")
        }
    }

    @Test func rotatingTheMasterKeyKeepsEveryCredential() async throws {
        try await Fixture.with { fixture in
            let key = try await fixture.seed()
            try await fixture.route("echo", "good")
            let (_, hook) = try await fixture.admin.send(
                .PUT,
                "/admin/v1/tenants/acme/webhooks/alerts",
                ["url": "https://hooks.example.com/switchyard", "secret": "whsec_rotation_check"]
            )
            #expect(hook["name"] == "alerts", "\(hook)")
            let old = fixture.secrets.masterKey
            let new = MasterKey.generateBase64()
            let count = try await rotateMasterKey(
                postgres: fixture.database,
                masterKey: try MasterKey(base64: new, previous: [old]),
                logger: TestPostgres.logger
            )
            #expect(count >= 3)
            // What is stored opens with the new key alone, no longer with the old one.
            let client = PostgresClient(configuration: fixture.database, backgroundLogger: TestPostgres.logger)
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { await client.run() }
                let rows = try await client.query("SELECT credentials_sealed FROM providers WHERE name = 'mock'", logger: TestPostgres.logger)
                for try await sealed in rows.decode(Data.self) {
                    #expect(try MasterKey(base64: new).open(sealed).contains("sk-upstream-secret"))
                    #expect(throws: (any Error).self) { try MasterKey(base64: old).open(sealed) }
                }
                // Webhook signing secrets are re-sealed in the same transaction.
                let hooks = try await client.query("SELECT secret_sealed FROM webhooks", logger: TestPostgres.logger)
                var opened = 0
                for try await sealed in hooks.decode(Data.self) {
                    #expect(try MasterKey(base64: new).open(sealed) == "whsec_rotation_check")
                    #expect(throws: (any Error).self) { try MasterKey(base64: old).open(sealed) }
                    opened += 1
                }
                #expect(opened == 1)
                group.cancelAll()
            }
            // A control plane that knows only the new key serves the same credentials to nodes.
            var secrets = fixture.secrets
            secrets.masterKey = new
            let control = try await TestServers.control(database: fixture.database, secrets: secrets)
            let node = try await TestServers.node(controlURL: control.url, secrets: secrets)
            #expect(
                await eventually(timeout: .seconds(5)) {
                    try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "echo", message: "__echo_auth__")).status == 200
                }
            )
            let echoed = try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "echo", message: "__echo_auth__"))
            #expect(echoed.json["choices"]?[0]?["message"]?["content"]?.stringValue?.contains("sk-upstream-secret") == true)
            await node.stop()
            await control.stop()
        }
    }
}
