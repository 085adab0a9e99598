import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import PostgresNIO
import SwitchyardCLI
import SwitchyardCore
import SwitchyardTesting
import Testing

/// A control plane on its own database, a mock provider, and helpers to configure them.
struct Fixture {
    let http: HTTPClient
    let secrets: TestSecrets
    let database: PostgresClient.Configuration
    let control: RunningServer
    let mock: RunningServer
    let admin: AdminClient

    /// Runs `body` with a fresh fixture and stops everything afterwards.
    static func with(tokenLatencyMs: Int = 0, leaseTTL: Duration = .seconds(30), _ body: (Fixture) async throws -> Void) async throws {
        let http = makeTestHTTPClient()
        let secrets = TestSecrets()
        let database = try await TestPostgres.makeDatabase()
        let control = try await TestServers.control(database: database, secrets: secrets, leaseTTL: leaseTTL)
        let mock = try await TestServers.mockProvider(tokenLatencyMs: tokenLatencyMs)
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

    func stop() async {
        await self.control.stop()
        await self.mock.stop()
        try? await self.http.shutdown()
    }

    /// Models pointing at the mock provider (upstream names carry its fault directives), a
    /// provider nobody listens on, tenant `acme` and a key. Returns the key's secret.
    @discardableResult
    func seed() async throws -> String {
        try await self.admin.send(
            .PUT,
            "/admin/v1/providers/mock",
            ["kind": "openai_compatible", "base_url": .string(self.mock.url + "/v1"), "api_key": "sk-upstream-secret"]
        )
        try await self.admin.send(
            .PUT,
            "/admin/v1/providers/mock-b",
            ["kind": "openai_compatible", "base_url": .string(self.mock.url + "/v1")]
        )
        // Its own provider: a 401 cools the provider's credential down, which must not touch `mock`.
        try await self.admin.send(
            .PUT,
            "/admin/v1/providers/mock-auth",
            ["kind": "openai_compatible", "base_url": .string(self.mock.url + "/v1"), "api_key": "sk-upstream-secret"]
        )
        // The same mock, speaking Anthropic Messages and Gemini.
        try await self.admin.send(
            .PUT,
            "/admin/v1/providers/mock-anthropic",
            ["kind": "anthropic", "base_url": .string(self.mock.url + "/v1"), "api_key": "sk-ant-upstream"]
        )
        try await self.admin.send(
            .PUT,
            "/admin/v1/providers/mock-gemini",
            ["kind": "gemini", "base_url": .string(self.mock.url + "/v1beta"), "api_key": "gemini-upstream"]
        )
        try await self.admin.send(
            .PUT,
            "/admin/v1/providers/dead",
            ["kind": "openai", "base_url": .string("http://127.0.0.1:\(try freePort())/v1")]
        )
        let models: [(String, String, String)] = [
            ("good", "mock", "good-model"), ("unauthorized", "mock-auth", "fault-401"), ("good-b", "mock-b", "good-b-model"),
            ("fail500", "mock", "fault-500"),
            ("fail429", "mock", "fault-429"), ("bad400", "mock", "fault-400"), ("hang", "mock", "fault-hang"),
            ("cut", "mock", "fault-cut"), ("slow", "mock", "latency-150:slow"), ("reset", "mock", "fault-reset"),
            ("refused", "dead", "anything"), ("claude", "mock-anthropic", "claude-mock"), ("gemini", "mock-gemini", "gemini-mock"),
            ("claude500", "mock-anthropic", "fault-500:claude"), ("streamerr", "mock", "fault-stream-error:s"),
            ("claude-overloaded", "mock-anthropic", "fault-stream-error:claude"), ("embed", "mock", "embed-mock"),
            ("gemini-embed", "mock-gemini", "gemini-embed"),
        ]
        for (name, provider, upstream) in models {
            try await self.admin.send(
                .PUT,
                "/admin/v1/models/\(name)",
                [
                    "provider": .string(provider), "upstream_model": .string(upstream), "input_price_per_mtok": 1,
                    "output_price_per_mtok": 2,
                ]
            )
        }
        try await self.admin.send(.POST, "/admin/v1/tenants", ["name": "acme"])
        let (_, key) = try await self.admin.send(.POST, "/admin/v1/tenants/acme/keys", ["name": "tests"])
        return try #require(key["secret"]?.stringValue)
    }

    @discardableResult
    func route(
        _ alias: String,
        _ model: String,
        fallbacks: [String] = [],
        firstTokenMs: Int = 5_000,
        totalMs: Int = 20_000,
        retry: JSONValue = ["max_retries": 0],
        tenant: String = "acme"
    ) async throws -> JSONValue {
        let (_, route) = try await self.admin.send(
            .PUT,
            "/admin/v1/tenants/\(tenant)/routes/\(alias)",
            [
                "default": ["model": .string(model)], "fallbacks": .array(fallbacks.map { ["model": .string($0)] }),
                "timeouts": ["first_token_ms": .int(Int64(firstTokenMs)), "total_ms": .int(Int64(totalMs))],
                "retry": retry,
            ]
        )
        return route
    }

    /// Writes a route from a full spec document.
    @discardableResult
    func route(_ alias: String, spec: JSONValue, tenant: String = "acme") async throws -> JSONValue {
        let (_, route) = try await self.admin.send(.PUT, "/admin/v1/tenants/\(tenant)/routes/\(alias)", spec)
        return route
    }

    func configVersion() async throws -> Int {
        let (_, body) = try await self.admin.send(.GET, "/admin/v1/config")
        return Int(body["version"]?.intValue ?? -1)
    }

    func node(
        stateDirectory: String? = nil,
        limits: SnapshotLimits = .init(),
        controlURL: String? = nil,
        maxRequestBodyBytes: Int = 16 << 20,
        region: String? = nil,
        breakerThreshold: Int = 5,
        breakerOpenFor: Duration = .seconds(30),
        leaseReportInterval: Duration = .seconds(1)
    ) async throws -> RunningServer {
        // Nil when the control plane is down (a test may start a node then on purpose).
        let version = try? await self.configVersion()
        let node = try await TestServers.node(
            controlURL: controlURL ?? self.control.url,
            secrets: self.secrets,
            stateDirectory: stateDirectory,
            limits: limits,
            maxRequestBodyBytes: maxRequestBodyBytes,
            region: region,
            breakerThreshold: breakerThreshold,
            breakerOpenFor: breakerOpenFor,
            leaseReportInterval: leaseReportInterval
        )
        // A node of this control plane serves the config written so far before a test uses it:
        // routes written one after another are separate versions, and a test must not catch the
        // node between them. (Bounded and never failing: some tests start nodes that refuse it.)
        if let version, controlURL == nil, limits == SnapshotLimits() {
            _ = await eventually(timeout: .seconds(5)) {
                let ready = try await callNode(self.http, node.url, key: nil, body: "", method: .GET, path: "/readyz")
                guard let applied = ready.body.split(separator: "=").last.flatMap({ Int($0) }) else { return false }
                return applied >= version
            }
        }
        return node
    }

    /// Upstream requests the mock received for each upstream model name (`GET /mock/stats`).
    func mockCounts() async throws -> [String: Int] {
        let response = try await callNode(self.http, self.mock.url, key: nil, body: "", method: .GET, path: "/mock/stats")
        return (response.json["by_model"]?.objectValue ?? [:]).compactMapValues { $0.intValue.map(Int.init) }
    }

    func resetMockCounts() async throws {
        _ = try await callNode(self.http, self.mock.url, key: nil, body: "", method: .POST, path: "/mock/stats/reset")
    }

    /// Waits until `node` answers `alias` with 200 (the route reached it).
    func waitForRoute(_ node: RunningServer, key: String, alias: String, timeout: Duration = .seconds(2)) async -> Bool {
        await eventually(timeout: timeout) {
            try await callNode(self.http, node.url, key: key, body: chatBody(model: alias)).status == 200
        }
    }
}

func temporaryDirectory() -> String {
    let path = NSTemporaryDirectory() + "switchyard-test-" + UUID().uuidString
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}
