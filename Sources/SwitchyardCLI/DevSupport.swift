import AsyncHTTPClient
import Foundation
import Logging
import NIOHTTP1
import PostgresNIO
import SwitchyardControl
import SwitchyardCore

/// The dev cluster's tokens and master key: generated once, kept in `<state>/secrets.env`.
struct DevSecrets {
    var adminToken: String
    var nodeToken: String
    var masterKey: String

    static func loadOrCreate(_ file: URL) throws -> DevSecrets {
        let values = readEnvFile(file)
        if let admin = values["SWITCHYARD_ADMIN_TOKEN"], let node = values["SWITCHYARD_NODE_TOKEN"], let key = values["SWITCHYARD_MASTER_KEY"] {
            return DevSecrets(adminToken: admin, nodeToken: node, masterKey: key)
        }
        let secrets = DevSecrets(
            adminToken: "sy-admin-" + randomToken(),
            nodeToken: "sy-node-" + randomToken(),
            masterKey: MasterKey.generateBase64()
        )
        let text = """
            SWITCHYARD_ADMIN_TOKEN=\(secrets.adminToken)
            SWITCHYARD_NODE_TOKEN=\(secrets.nodeToken)
            SWITCHYARD_MASTER_KEY=\(secrets.masterKey)

            """
        try Data(text.utf8).write(to: file, options: .atomic)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file.path)
        return secrets
    }

    static func randomToken() -> String {
        String(APIKeyFormat.generate().secret.suffix(32))
    }
}

/// `KEY=value` lines; blank lines and `#` comments ignored.
func readEnvFile(_ file: URL) -> [String: String] {
    guard let text = try? String(contentsOf: file, encoding: .utf8) else { return [:] }
    var values: [String: String] = [:]
    for line in text.split(separator: "\n") where !line.hasPrefix("#") {
        guard let equals = line.firstIndex(of: "=") else { continue }
        values[String(line[..<equals]).trimmingCharacters(in: .whitespaces)] = String(line[line.index(after: equals)...])
    }
    return values
}

/// The demo configuration `switchyard dev` creates (idempotently) through the admin API.
enum DevSeed {
    struct Demo {
        var key: String
        var model: String
    }

    static let tenant = "demo"
    static let route = "demo-chat"

    /// The demo catalog: the mock provider in its three wire formats, and a route that shows a
    /// frozen default, a tag rule and a cross-provider fallback.
    static func apply(_ admin: AdminClient, mockRoot: String, state: URL) async throws -> Demo {
        let providers: [(String, String, String)] = [
            ("mock", "openai_compatible", mockRoot + "/v1"), ("mock-anthropic", "anthropic", mockRoot + "/v1"),
            ("mock-gemini", "gemini", mockRoot + "/v1beta"),
        ]
        for (name, kind, url) in providers {
            try await admin.send(.PUT, "/admin/v1/providers/\(name)", ["kind": .string(kind), "base_url": .string(url), "api_key": "mock-key"])
        }
        let models: [(String, String, Double, Double)] = [
            ("mock-small", "mock", 0.15, 0.6), ("mock-large", "mock", 2.5, 10), ("mock-claude", "mock-anthropic", 3, 15),
            ("mock-gemini", "mock-gemini", 0.3, 2.5),
        ]
        for (name, provider, input, output) in models {
            try await admin.send(
                .PUT,
                "/admin/v1/models/\(name)",
                [
                    "provider": .string(provider), "upstream_model": .string(name), "input_price_per_mtok": .double(input),
                    "output_price_per_mtok": .double(output),
                ]
            )
        }
        try await admin.send(.POST, "/admin/v1/tenants", ["name": .string(tenant), "display_name": "Demo tenant"], allow: [409])
        try await admin.send(
            .PUT,
            "/admin/v1/tenants/\(tenant)/routes/\(route)",
            [
                "default": ["model": "mock-small"],
                "rules": [
                    ["name": "summaries", "when": ["field": "tag", "op": "eq", "value": "summarize"], "then": ["model": "mock-gemini"]]
                ],
                "fallbacks": [["model": "mock-large"], ["model": "mock-claude"]],
                "timeouts": ["first_token_ms": 10_000, "total_ms": 60_000], "comment": "seeded by switchyard dev",
            ]
        )
        // Reuse the demo key from an earlier run while it is still active.
        let previous = readEnvFile(state.appendingPathComponent("dev.env"))["SWITCHYARD_DEMO_KEY"]
        if let previous, let prefix = APIKeyFormat.prefix(of: previous) {
            let (_, keys) = try await admin.send(.GET, "/admin/v1/tenants/\(tenant)/keys")
            let active = keys["data"]?.arrayValue?.contains { $0["prefix"]?.stringValue == prefix && $0["revoked_at"]?.isNull == true } ?? false
            if active { return Demo(key: previous, model: route) }
        }
        let (_, created) = try await admin.send(.POST, "/admin/v1/tenants/\(tenant)/keys", ["name": "dev demo key"])
        guard let secret = created["secret"]?.stringValue else { throw AdminClient.Failure(status: 0, body: "no secret in key answer") }
        return Demo(key: secret, model: route)
    }
}

/// Runs `body` with a connected Postgres client.
func withPostgres(url: String, logger: Logger, _ body: @Sendable (PostgresClient) async throws -> Void) async throws {
    let client = PostgresClient(configuration: try PostgresURL.configuration(url, maximumConnections: 2), backgroundLogger: logger)
    try await withThrowingDiscardingTaskGroup { group in
        group.addTask { await client.run() }
        try await body(client)
        group.cancelAll()
    }
}

/// The cluster's child processes, each logging to `<logs>/<name>.log`.
struct ChildProcesses {
    let logs: URL
    let logger: Logger
    private(set) var running: [(name: String, process: Subprocess)] = []

    init(logs: URL, logger: Logger) {
        self.logs = logs
        self.logger = logger
    }

    mutating func start(_ name: String, _ executable: String, _ arguments: [String], environment: [String: String]) throws {
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw ValidationErrorMessage("\(executable) not found; build all products first (swift build)")
        }
        let process = try Subprocess.spawn(
            executable,
            arguments,
            environment: environment,
            outputPath: self.logs.appendingPathComponent("\(name).log").path
        )
        self.logger.info("started \(name)", metadata: ["pid": "\(process.pid)"])
        self.running.append((name, process))
    }

    /// Polls `url` until it answers 200, giving up at `timeout` or as soon as the child `name` has
    /// exited (a port taken between our check and its bind should fail fast, not after a minute).
    mutating func waitUntilReady(_ name: String, _ http: HTTPClient, url: String, timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if await waitUntilHealthy(http, url, timeout: .milliseconds(500)) { return true }
            for (exited, code) in self.reapExited() {
                self.logger.warning("\(exited) exited", metadata: ["code": "\(code)"])
                if exited == name { return false }
            }
        }
        return false
    }

    /// Children that have exited since the last call, with their exit codes.
    mutating func reapExited() -> [(name: String, code: Int32)] {
        var exited: [(String, Int32)] = []
        self.running.removeAll { child in
            guard let code = child.process.poll() else { return false }
            exited.append((child.name, code))
            return true
        }
        return exited
    }

    /// SIGTERM to everyone (newest first), then SIGKILL whatever is left after 10 s.
    mutating func stopAll() async {
        for (_, process) in self.running.reversed() { process.signal(SIGTERM) }
        let deadline = ContinuousClock.now + .seconds(10)
        while !self.running.isEmpty, ContinuousClock.now < deadline {
            for (name, code) in self.reapExited() where code != 0 {
                self.logger.info("\(name) exited", metadata: ["code": "\(code)"])
            }
            if !self.running.isEmpty { try? await Task.sleep(for: .milliseconds(50)) }
        }
        for (name, process) in self.running {
            self.logger.warning("\(name) did not stop in time; killing it")
            process.signal(SIGKILL)
            _ = process.wait()
        }
        self.running.removeAll()
    }
}

struct ValidationErrorMessage: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
