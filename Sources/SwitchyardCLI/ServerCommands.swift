public import ArgumentParser
import Foundation
import Hummingbird
import Logging
import PostgresNIO
import SwitchyardControl
import SwitchyardCore
import SwitchyardMockProvider
import SwitchyardNode
import UnixSignals

/// Reads a required secret from the environment, with a message that says how to set it.
func requiredEnvironment(_ name: String, hint: String) throws -> String {
    guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
        throw ValidationError("\(name) is not set: \(hint)")
    }
    return value
}

func makeLogger(_ label: String) -> Logger {
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
        return handler
    }
    return Logger(label: label)
}

/// `switchyard-control`: the control plane (admin API, node API, snapshot publisher), and its
/// maintenance commands.
public struct ControlCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "switchyard-control",
        abstract: "Run the Switchyard control plane.",
        subcommands: [ServeControlCommand.self, RotateMasterKeyCommand.self],
        defaultSubcommand: ServeControlCommand.self
    )

    public init() {}
}

/// The master keys from the environment: `SWITCHYARD_MASTER_KEY`, plus
/// `SWITCHYARD_PREVIOUS_MASTER_KEYS` (comma-separated) while a rotation is under way.
func masterKeyFromEnvironment() throws -> MasterKey {
    let previous = (ProcessInfo.processInfo.environment["SWITCHYARD_PREVIOUS_MASTER_KEYS"] ?? "")
        .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    return try MasterKey(base64: try requiredEnvironment("SWITCHYARD_MASTER_KEY", hint: "openssl rand -base64 32"), previous: previous)
}

/// `switchyard-control [serve]`: runs the control plane.
struct ServeControlCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the control plane (the default).",
        discussion: """
            Environment: SWITCHYARD_ADMIN_TOKEN (admin API bearer token), SWITCHYARD_NODE_TOKEN (nodes' bearer \
            token), SWITCHYARD_MASTER_KEY (base64 of 32 bytes, encrypts provider credentials), \
            SWITCHYARD_PREVIOUS_MASTER_KEYS (comma-separated, only during a key rotation), \
            SWITCHYARD_DATABASE_URL (unless --database-url is given).
            """
    )

    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on.") var port = 7700
    @Option(help: "postgres://user[:password]@host[:port]/database (default: $SWITCHYARD_DATABASE_URL).") var databaseURL: String?
    @Flag(help: "Apply database migrations and exit.") var migrateOnly = false

    func run() async throws {
        let logger = makeLogger("switchyard-control")
        let url = try self.databaseURL ?? requiredEnvironment("SWITCHYARD_DATABASE_URL", hint: "pass --database-url or set it")
        let postgres = try PostgresURL.configuration(url)
        if self.migrateOnly {
            try await runMigrations(postgres, logger: logger)
            return
        }
        let configuration = ControlConfiguration(
            host: self.host,
            port: self.port,
            postgres: postgres,
            adminToken: try requiredEnvironment("SWITCHYARD_ADMIN_TOKEN", hint: "the bearer token admins use"),
            nodeToken: try requiredEnvironment("SWITCHYARD_NODE_TOKEN", hint: "the bearer token nodes use"),
            masterKey: try masterKeyFromEnvironment()
        )
        let app = buildControlApplication(configuration, logger: logger)
        try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint])
    }
}

/// `switchyard-control rotate-master-key`: re-encrypts every stored provider credential under
/// `SWITCHYARD_MASTER_KEY`, opening them with it or any of `SWITCHYARD_PREVIOUS_MASTER_KEYS`.
struct RotateMasterKeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate-master-key",
        abstract: "Re-encrypt every provider credential under the current master key.",
        discussion: """
            1. Run every control plane with SWITCHYARD_MASTER_KEY=<new> and SWITCHYARD_PREVIOUS_MASTER_KEYS=<old>.
            2. Run this command once with the same environment (one transaction: all or nothing).
            3. Run the control planes with SWITCHYARD_MASTER_KEY=<new> alone.
            Nodes are not affected: snapshots seal credentials under the node token, not the master key.
            """
    )

    @Option(help: "postgres://… (default: $SWITCHYARD_DATABASE_URL).") var databaseURL: String?

    func run() async throws {
        let logger = makeLogger("switchyard-control")
        let url = try self.databaseURL ?? requiredEnvironment("SWITCHYARD_DATABASE_URL", hint: "pass --database-url or set it")
        let count = try await rotateMasterKey(postgres: try PostgresURL.configuration(url), masterKey: try masterKeyFromEnvironment(), logger: logger)
        say("re-encrypted the credentials of \(count) provider(s) under the current master key")
    }
}

/// Re-seals every provider credential under `masterKey`'s current key.
func rotateMasterKey(postgres: PostgresClient.Configuration, masterKey: MasterKey, logger: Logger) async throws -> Int {
    let client = PostgresClient(configuration: postgres, backgroundLogger: logger)
    return try await withThrowingTaskGroup(of: Int?.self) { group in
        group.addTask {
            await client.run()
            return nil
        }
        defer { group.cancelAll() }
        let store = ConfigStore(client: client, logger: logger)
        return try await store.resealCredentials(actor: "rotate-master-key") { try masterKey.reseal($0) }
    }
}

/// `switchyard-node`: a data-plane node.
public struct NodeCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "switchyard-node",
        abstract: "Run a Switchyard data-plane node.",
        discussion: "Environment: SWITCHYARD_NODE_TOKEN (must match the control plane's)."
    )

    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on.") var port = 7701
    @Option(help: "Control plane base URL.") var controlURL = "http://127.0.0.1:7700"
    @Option(help: "Folder for the last good snapshot (served at start when the control plane is down).") var stateDir: String?
    @Option(help: "Name of this node as the control plane shows it (default: host name and port).") var nodeID: String?
    @Option(help: "Connect timeout for provider calls, in milliseconds.") var upstreamConnectTimeoutMs = 3_000
    @Option(help: "Reject snapshots with more routes than this in one tenant.") var maxRoutesPerTenant = 10_000
    @Option(help: "Reject snapshots whose shards add up to more bytes than this.") var maxSnapshotBytes = 256 << 20
    @Option(help: "This node's region, for route rules on 'region' (default: $SWITCHYARD_REGION).") var region: String?
    @Option(help: "Consecutive failures of a target (provider and model) that open its circuit.") var breakerFailures = 5
    @Option(help: "How long an open circuit refuses calls before it lets one probe through, in milliseconds.") var breakerOpenMs = 30_000
    @Flag(help: "Serve with Hummingbird's own HTTP/1 channel instead of the node's (for benchmark comparisons).")
    var hummingbirdServer = false

    public init() {}

    public func validate() throws {
        guard (1...600_000).contains(self.upstreamConnectTimeoutMs) else {
            throw ValidationError("--upstream-connect-timeout-ms must be 1...600000")
        }
        guard self.maxRoutesPerTenant > 0, self.maxSnapshotBytes > 0 else {
            throw ValidationError("--max-routes-per-tenant and --max-snapshot-bytes must be positive")
        }
        guard (1...65_535).contains(self.port) else { throw ValidationError("--port must be 1...65535") }
        guard (1...1_000).contains(self.breakerFailures) else { throw ValidationError("--breaker-failures must be 1...1000") }
        guard (1...3_600_000).contains(self.breakerOpenMs) else { throw ValidationError("--breaker-open-ms must be 1...3600000") }
    }

    public func run() async throws {
        let logger = makeLogger("switchyard-node")
        var limits = SnapshotLimits()
        limits.maxRoutesPerTenant = self.maxRoutesPerTenant
        limits.maxSnapshotBytes = self.maxSnapshotBytes
        var configuration = NodeConfiguration(
            host: self.host,
            port: self.port,
            controlURL: self.controlURL,
            nodeToken: try requiredEnvironment("SWITCHYARD_NODE_TOKEN", hint: "must match the control plane's"),
            stateDirectory: self.stateDir,
            nodeID: self.nodeID ?? "\(ProcessInfo.processInfo.hostName):\(self.port)",
            limits: limits,
            upstreamConnectTimeout: .milliseconds(self.upstreamConnectTimeoutMs),
            region: self.region ?? ProcessInfo.processInfo.environment["SWITCHYARD_REGION"],
            breakerThreshold: self.breakerFailures,
            breakerOpenFor: .milliseconds(self.breakerOpenMs)
        )
        configuration.hummingbirdServer = self.hummingbirdServer
        let app = buildNodeApplication(configuration, logger: logger)
        try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint])
    }
}

/// `switchyard mock-provider`: the provider simulator.
struct MockProviderCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mock-provider",
        abstract: "Run the mock LLM provider (OpenAI, Anthropic and Gemini wire formats, streaming, tool calls, embeddings, injectable faults)."
    )

    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on.") var port = 7709
    @Option(help: "Delay per streamed token, in milliseconds.") var tokenLatencyMs = 0

    func run() async throws {
        let logger = makeLogger("switchyard-mock")
        let app = MockProvider.buildApplication(
            .init(host: self.host, port: self.port, tokenLatencyMs: self.tokenLatencyMs),
            logger: logger
        )
        try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint])
    }
}

/// `switchyard`: the CLI.
public struct SwitchyardCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "switchyard",
        abstract: "Switchyard, an LLM router that runs as a cluster.",
        subcommands: [
            DevCommand.self, ApplyCommand.self, GetCommand.self, HistoryCommand.self, DiffCommand.self, RoutesCommand.self,
            SpendCommand.self, PricesCommand.self, CanaryCommand.self, MockProviderCommand.self,
        ]
    )

    public init() {}
}

/// Parses the arguments and runs the chosen (sub)command; what every executable's `main` calls.
public func runCommand<Root: ParsableCommand>(_ root: Root.Type) async {
    do {
        var command = try root.parseAsRoot()
        if var asyncCommand = command as? any AsyncParsableCommand {
            try await asyncCommand.run()
        } else {
            try command.run()
        }
    } catch {
        root.exit(withError: error)
    }
}
