import Foundation
import Hummingbird
import NIOCore
import NIOHTTP1
import PostgresNIO
import SwitchyardCLI
import SwitchyardControl
import SwitchyardCore
import SwitchyardTesting
import Testing

/// Signed webhook events: delivered with retries and the same event id, signed with the secret
/// returned at creation (and nowhere else), given up after the last attempt, sent only to the
/// webhooks subscribed to the event.
struct WebhookTests {
    /// Fast delivery for tests: polls every 50 ms, retries after 100 ms, 200 ms, ...
    static let fast = WebhookDelivery.Configuration(
        pollInterval: .milliseconds(50),
        firstRetryDelay: .milliseconds(100),
        maxAttempts: 5,
        attemptTimeout: .seconds(2)
    )

    /// Records every POST it receives; answers 500 to the first `failures`, then 200.
    actor Receiver {
        struct Call: Sendable {
            var path: String
            var headers: [String: String]
            var body: [UInt8]
        }

        let failures: Int
        private(set) var calls: [Call] = []

        init(failures: Int) {
            self.failures = failures
        }

        /// Records a call; returns whether to fail it.
        func record(_ call: Call) -> Bool {
            self.calls.append(call)
            return self.calls.count <= self.failures
        }
    }

    /// Runs `body` with a receiver listening on 127.0.0.1 (its base URL), stopped afterwards.
    static func withReceiver(failures: Int, _ body: (Receiver, String) async throws -> Void) async throws {
        let receiver = Receiver(failures: failures)
        let server = try await RunningServer.start { onRunning in
            let router = Router()
            router.post("hooks/:name") { request, _ -> Response in
                var request = request
                let buffer = try await request.collectBody(upTo: 1 << 20)
                var headers: [String: String] = [:]
                for field in request.headers { headers[field.name.canonicalName] = field.value }
                let call = Receiver.Call(path: request.uri.path, headers: headers, body: Array(buffer.readableBytesView))
                let fail = await receiver.record(call)
                return Response(status: fail ? .internalServerError : .ok)
            }
            return Application(
                router: router,
                configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "webhook-receiver"),
                onServerRunning: onRunning,
                logger: TestPostgres.logger
            )
        }
        do {
            try await body(receiver, server.url)
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }

    /// A fixture whose control plane delivers webhooks with `webhooks` settings.
    static func withControl(_ webhooks: WebhookDelivery.Configuration, _ body: (Fixture) async throws -> Void) async throws {
        let http = makeTestHTTPClient()
        let secrets = TestSecrets()
        let database = try await TestPostgres.makeDatabase()
        let configuration = ControlConfiguration(
            host: "127.0.0.1",
            port: 0,
            postgres: database,
            adminToken: secrets.adminToken,
            nodeToken: secrets.nodeToken,
            masterKey: try MasterKey(base64: secrets.masterKey),
            versionPollInterval: .seconds(60),
            webhooks: webhooks
        )
        let control = try await RunningServer.start { onRunning in
            buildControlApplication(configuration, logger: TestPostgres.logger, onServerRunning: onRunning)
        }
        let mock = try await TestServers.mockProvider()
        let fixture = Fixture(
            http: http,
            secrets: secrets,
            database: database,
            control: control,
            mock: mock,
            admin: .test(http, control, secrets)
        )
        do {
            try await body(fixture)
        } catch {
            await fixture.stop()
            throw error
        }
        await fixture.stop()
    }

    /// The delivery log of a webhook of `acme`.
    static func deliveries(_ fixture: Fixture, _ webhook: String) async throws -> [JSONValue] {
        try await fixture.admin.send(.GET, "/admin/v1/tenants/acme/webhooks/\(webhook)/deliveries").1["data"]?.arrayValue ?? []
    }

    static var now: Int64 { Int64(Date().timeIntervalSince1970) }

    @Test func signatureIsHMACSHA256OfTimestampAndBody() {
        // RFC 4231, test case 2.
        #expect(
            WebhookSignature.hmacSHA256Hex(key: "Jefe", message: Array("what do ya want for nothing?".utf8))
                == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        )
        let body = Array(#"{"id":"evt_1"}"#.utf8)
        let header = WebhookSignature.header(secret: "whsec_test", timestamp: 1_700_000_000, body: body)
        let expected = WebhookSignature.hmacSHA256Hex(key: "whsec_test", message: Array("1700000000.".utf8) + body)
        #expect(header == "t=1700000000,v1=\(expected)")
        #expect(WebhookSignature.verify(header: header, body: body, secret: "whsec_test", now: 1_700_000_100))
        // Too old (a replay), another secret, another body: refused.
        #expect(!WebhookSignature.verify(header: header, body: body, secret: "whsec_test", now: 1_700_001_000))
        #expect(!WebhookSignature.verify(header: header, body: body, secret: "whsec_other", now: 1_700_000_100))
        #expect(!WebhookSignature.verify(header: header, body: Array(#"{"id":"evt_2"}"#.utf8), secret: "whsec_test", now: 1_700_000_100))
    }

    @Test func deliversASignedEventAfterTwoFailures() async throws {
        var secret = ""
        let lines = try await LogCapture.capturing {
            try await Self.withReceiver(failures: 2) { receiver, receiverURL in
                try await Self.withControl(Self.fast) { fixture in
                    try await fixture.admin.send(.POST, "/admin/v1/tenants", ["name": "acme"])
                    let versionBefore = try await fixture.configVersion()
                    let (status, created) = try await fixture.admin.send(
                        .PUT,
                        "/admin/v1/tenants/acme/webhooks/alerts",
                        ["url": .string(receiverURL + "/hooks/alerts"), "events": ["budget.*"]]
                    )
                    #expect(status == 201, "\(created)")
                    secret = try #require(created["secret"]?.stringValue)
                    #expect(secret.hasPrefix("whsec_") && secret.utf8.count == 6 + 64)
                    #expect(created["events"] == ["budget.*"] && created["enabled"] == true)
                    // Webhooks are not config: no new version.
                    let versionAfter = try await fixture.configVersion()
                    #expect(versionAfter == versionBefore)

                    let (accepted, test) = try await fixture.admin.send(.POST, "/admin/v1/tenants/acme/webhooks/alerts/test")
                    #expect(accepted == 202)
                    let eventID = try #require(test["event_id"]?.stringValue)
                    #expect(eventID.hasPrefix("evt_"))

                    let delivered = await eventually(timeout: .seconds(10)) {
                        try await Self.deliveries(fixture, "alerts").first?["state"] == "delivered"
                    }
                    #expect(delivered)
                    let log = try await Self.deliveries(fixture, "alerts")
                    #expect(log.count == 1)
                    let entry = try #require(log.first)
                    #expect(entry["event_id"]?.stringValue == eventID)
                    #expect(entry["type"] == "webhook.test")
                    #expect(entry["attempts"] == 3)
                    #expect(entry["last_status"] == 200)
                    #expect(entry["last_error"] == .null)
                    #expect(entry["next_attempt_at"] == .null)
                    #expect(entry["delivered_at"]?.stringValue != nil)

                    // Three POSTs of the same bytes, each signed with the secret from creation.
                    let calls = await receiver.calls
                    #expect(calls.count == 3)
                    #expect(Set(calls.map(\.body)).count == 1)
                    for (index, call) in calls.enumerated() {
                        #expect(call.path == "/hooks/alerts")
                        #expect(call.headers["content-type"] == "application/json")
                        #expect(call.headers["switchyard-event-id"] == eventID)
                        #expect(call.headers["switchyard-event-type"] == "webhook.test")
                        #expect(call.headers["switchyard-delivery-attempt"] == String(index + 1))
                        let signature = try #require(call.headers["switchyard-signature"])
                        let parts = Dictionary(
                            signature.split(separator: ",").map { part in
                                let pair = part.split(separator: "=", maxSplits: 1).map(String.init)
                                return (pair[0], pair.count > 1 ? pair[1] : "")
                            },
                            uniquingKeysWith: { first, _ in first }
                        )
                        let timestamp = try #require(parts["t"].flatMap { Int64($0) })
                        #expect(abs(Self.now - timestamp) < 60)
                        let expected = WebhookSignature.hmacSHA256Hex(key: secret, message: Array("\(timestamp).".utf8) + call.body)
                        #expect(parts["v1"] == expected)
                        #expect(WebhookSignature.verify(header: signature, body: call.body, secret: secret, now: Self.now))
                        // A tampered body or another secret does not verify.
                        var tampered = call.body
                        tampered[tampered.count / 2] ^= 0x01
                        #expect(!WebhookSignature.verify(header: signature, body: tampered, secret: secret, now: Self.now))
                        #expect(!WebhookSignature.verify(header: signature, body: call.body, secret: secret + "x", now: Self.now))

                        let event = try JSONValue(parsing: call.body)
                        #expect(event["id"]?.stringValue == eventID)
                        #expect(event["type"] == "webhook.test")
                        #expect(event["tenant"] == "acme")
                        #expect(event["created_at"]?.stringValue?.hasSuffix("Z") == true)
                        #expect(event["data"]?["webhook"] == "alerts")
                    }

                    // The secret is in the creation answer only: not in reads, not in the audit log.
                    let (_, one) = try await fixture.admin.send(.GET, "/admin/v1/tenants/acme/webhooks/alerts")
                    #expect(one["secret"] == nil)
                    #expect(one["url"]?.stringValue == receiverURL + "/hooks/alerts")
                    let (_, list) = try await fixture.admin.send(.GET, "/admin/v1/tenants/acme/webhooks")
                    #expect(list["data"]?.arrayValue?.count == 1)
                    #expect(!one.serializedString.contains(secret) && !list.serializedString.contains(secret))
                    let (_, audit) = try await fixture.admin.send(.GET, "/admin/v1/audit?object_type=webhook")
                    let actions = audit["data"]?.arrayValue?.compactMap { $0["action"]?.stringValue } ?? []
                    #expect(actions.sorted() == ["create", "test"])
                    #expect(!audit.serializedString.contains(secret))
                    #expect(!audit.serializedString.contains(String(secret.dropFirst(6))))

                    // Stored sealed: the database does not hold it in the clear.
                    let postgres = PostgresClient(configuration: fixture.database)
                    try await withThrowingDiscardingTaskGroup { group in
                        group.addTask { await postgres.run() }
                        let rows = try await postgres.query("SELECT secret_sealed FROM webhooks")
                        var stored: [Data] = []
                        for try await sealed in rows.decode(Data.self) { stored.append(sealed) }
                        #expect(stored.count == 1)
                        #expect(stored.allSatisfy { $0.range(of: Data(secret.utf8)) == nil })
                        group.cancelAll()
                    }
                }
            }
        }
        #expect(!secret.isEmpty)
        #expect(!lines.contains { $0.contains(secret) }, "the secret appeared in a log line")
    }

    @Test func anUnreachableReceiverFailsAfterTheLastAttempt() async throws {
        var settings = Self.fast
        settings.firstRetryDelay = .milliseconds(50)
        settings.maxAttempts = 3
        settings.attemptTimeout = .seconds(1)
        try await Self.withControl(settings) { fixture in
            try await fixture.admin.send(.POST, "/admin/v1/tenants", ["name": "acme"])
            let port = try freePort()
            try await fixture.admin.send(.PUT, "/admin/v1/tenants/acme/webhooks/dead", ["url": .string("http://127.0.0.1:\(port)/hooks/dead")])
            let (accepted, test) = try await fixture.admin.send(.POST, "/admin/v1/tenants/acme/webhooks/dead/test", [:])
            #expect(accepted == 202)
            let failed = await eventually(timeout: .seconds(15)) {
                try await Self.deliveries(fixture, "dead").first?["state"] == "failed"
            }
            #expect(failed)
            let log = try await Self.deliveries(fixture, "dead")
            let entry = try #require(log.first)
            #expect(entry["event_id"] == test["event_id"])
            #expect(entry["attempts"] == 3)
            #expect(entry["last_status"] == .null)
            #expect(entry["last_error"]?.stringValue?.isEmpty == false, "\(entry)")
            #expect(entry["delivered_at"] == .null && entry["next_attempt_at"] == .null)
            // Nothing more is attempted.
            try await Task.sleep(for: .milliseconds(300))
            let later = try await Self.deliveries(fixture, "dead")
            #expect(later.first?["attempts"] == 3)
        }
    }

    @Test func eventsGoOnlyToEnabledSubscribedWebhooks() async throws {
        try await Self.withReceiver(failures: 0) { receiver, receiverURL in
            try await Self.withControl(Self.fast) { fixture in
                try await fixture.admin.send(.POST, "/admin/v1/tenants", ["name": "acme"])
                try await fixture.admin.send(.POST, "/admin/v1/tenants", ["name": "quiet"])
                let hooks: [(String, JSONValue, Bool)] = [
                    ("budgets", ["budget.*"], true), ("exact", ["budget.threshold"], true), ("canary", ["canary.*"], true),
                    ("everything", [], true), ("disabled", ["budget.*"], false),
                ]
                for (name, events, enabled) in hooks {
                    try await fixture.admin.send(
                        .PUT,
                        "/admin/v1/tenants/acme/webhooks/\(name)",
                        ["url": .string(receiverURL + "/hooks/\(name)"), "events": events, "enabled": .bool(enabled)]
                    )
                }
                let postgres = PostgresClient(configuration: fixture.database)
                var eventID: Int64?
                var nobody: Int64?
                try await withThrowingDiscardingTaskGroup { group in
                    group.addTask { await postgres.run() }
                    let store = ConfigStore(client: postgres, logger: TestPostgres.logger)
                    eventID = try await store.enqueueWebhookEvent(
                        tenant: "acme",
                        type: "budget.threshold",
                        data: ["budget": "monthly", "percent": 80]
                    )
                    // A tenant without webhooks: nothing is written.
                    nobody = try await store.enqueueWebhookEvent(tenant: "quiet", type: "budget.threshold", data: [:])
                    group.cancelAll()
                }
                let id = try #require(eventID)
                #expect(nobody == nil)
                let delivered = await eventually(timeout: .seconds(10)) {
                    for name in ["budgets", "exact", "everything"] {
                        guard try await Self.deliveries(fixture, name).first?["state"] == "delivered" else { return false }
                    }
                    return true
                }
                #expect(delivered)
                for name in ["budgets", "exact", "everything"] {
                    let log = try await Self.deliveries(fixture, name)
                    #expect(log.count == 1 && log.first?["event_id"]?.stringValue == "evt_\(id)", "\(name): \(log)")
                    #expect(log.first?["type"] == "budget.threshold")
                }
                let canary = try await Self.deliveries(fixture, "canary")
                let disabled = try await Self.deliveries(fixture, "disabled")
                #expect(canary.isEmpty && disabled.isEmpty)
                let calls = await receiver.calls
                #expect(calls.map(\.path).sorted() == ["/hooks/budgets", "/hooks/everything", "/hooks/exact"])
                let call = try #require(calls.first)
                let event = try JSONValue(parsing: call.body)
                #expect(event["data"] == ["budget": "monthly", "percent": 80])
            }
        }
    }

    @Test func refusesBadInputNamingTheField() async throws {
        try await Self.withControl(Self.fast) { fixture in
            try await fixture.admin.send(.POST, "/admin/v1/tenants", ["name": "acme"])
            let path = "/admin/v1/tenants/acme/webhooks/w"
            let cases: [(JSONValue, String)] = [
                (["url": "ftp://example.com/hook"], "url"),
                (["url": "https://example.com/hook", "colour": "red"], "colour"),
                ([:], "url"),
                (["url": "https:///no-host"], "url"),
                (["url": .string("https://example.com/" + String(repeating: "a", count: 2_100))], "url"),
                (["url": "https://example.com/hook", "events": ["Budget.Threshold"]], "events[0]"),
                (["url": "https://example.com/hook", "events": ["budget.threshold", 3]], "events[1]"),
                (["url": "https://example.com/hook", "enabled": "yes"], "enabled"),
                (["url": "https://example.com/hook", "secret": "too-short"], "secret"),
                (["url": "https://example.com/hook", "name": "other"], "name"),
            ]
            for (body, field) in cases {
                let (status, error) = try await fixture.admin.send(.PUT, path, body, allow: [422])
                #expect(status == 422 && error["error"]?["field"]?.stringValue == field, "\(body): \(error)")
                #expect(!error.serializedString.contains("too-short"))
            }
            let (missing, _) = try await fixture.admin.send(.GET, path, allow: [404])
            #expect(missing == 404)

            // A secret of one's own is never echoed; the same body again changes nothing.
            let own: JSONValue = ["url": "https://example.com/hook", "secret": "my-own-secret-0123456789"]
            let (created, body) = try await fixture.admin.send(.PUT, path, own)
            #expect(created == 201 && body["secret"] == nil)
            let (again, _) = try await fixture.admin.send(.PUT, path, own)
            #expect(again == 200)

            // A disabled webhook sends no test.
            try await fixture.admin.send(.PUT, path, ["url": "https://example.com/hook", "enabled": false])
            let (disabled, _) = try await fixture.admin.send(.POST, path + "/test", allow: [409])
            #expect(disabled == 409)
            let (badQuery, queryError) = try await fixture.admin.send(.GET, path + "/deliveries?limit=0", allow: [422])
            #expect(badQuery == 422 && queryError["error"]?["field"] == "limit")

            // At most 16 webhooks per tenant.
            for index in 1..<16 {
                try await fixture.admin.send(.PUT, "/admin/v1/tenants/acme/webhooks/w\(index)", ["url": "https://example.com/hook"])
            }
            let (full, fullError) = try await fixture.admin.send(
                .PUT,
                "/admin/v1/tenants/acme/webhooks/w16",
                ["url": "https://example.com/hook"],
                allow: [409]
            )
            #expect(full == 409 && fullError["error"]?["code"] == "conflict")
            // Replacing one of them is still fine; deleting one makes room.
            let (replaced, _) = try await fixture.admin.send(.PUT, "/admin/v1/tenants/acme/webhooks/w1", ["url": "https://example.org/hook"])
            #expect(replaced == 200)
            let (deleted, _) = try await fixture.admin.send(.DELETE, "/admin/v1/tenants/acme/webhooks/w1")
            #expect(deleted == 204)
            let (room, _) = try await fixture.admin.send(.PUT, "/admin/v1/tenants/acme/webhooks/w16", ["url": "https://example.com/hook"])
            #expect(room == 201)
        }
    }
}
