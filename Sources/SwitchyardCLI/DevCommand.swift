import ArgumentParser
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import SwitchyardControl
import SwitchyardCore
import Synchronization
import UnixSignals

/// `switchyard dev`: the whole cluster on one box — a private PostgreSQL, the control plane, two
/// nodes and the mock provider, each its own process — seeded with a demo tenant, key and route.
struct DevCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dev",
        abstract: "Run a whole local cluster: PostgreSQL, control plane, two nodes, mock provider.",
        discussion: """
            Ports: control plane = base, nodes = base+1 and base+2, mock provider = base+9, PostgreSQL = base+32. \
            Connection details are written to <state-dir>/dev.env. Ctrl-C stops everything; a second run reuses the data.
            """
    )

    @Option(help: "Folder for the cluster's data, logs and secrets.") var stateDir = ".state/dev"
    @Option(help: "First port of the block the cluster uses.") var basePort = 7700
    @Option(help: "Delay per streamed token of the mock provider, in milliseconds.") var tokenLatencyMs = 20
    @Flag(help: "Start, seed, print the connection details and stop again (a smoke test).") var exitAfterSeed = false

    func validate() throws {
        guard (1024...65_000).contains(self.basePort) else { throw ValidationError("--base-port must be 1024...65000") }
        guard (0...60_000).contains(self.tokenLatencyMs) else { throw ValidationError("--token-latency-ms must be 0...60000") }
    }

    func run() async throws {
        let logger = makeLogger("switchyard-dev")
        let state = URL(fileURLWithPath: self.stateDir, isDirectory: true).standardizedFileURL
        try FileManager.default.createDirectory(at: state.appendingPathComponent("logs"), withIntermediateDirectories: true)
        let ports = (control: self.basePort, nodes: [self.basePort + 1, self.basePort + 2], mock: self.basePort + 9, postgres: self.basePort + 32)
        for port in [ports.control, ports.mock, ports.postgres] + ports.nodes where !Self.portIsFree(port) {
            throw ValidationError("port \(port) is in use (another `switchyard dev`?); stop it or pass --base-port")
        }
        if let range = Self.ephemeralPortRange(), range.overlaps(self.basePort...(self.basePort + 32)) {
            logger.warning(
                "the port block overlaps the kernel's ephemeral range; an outgoing connection may take a port before its server binds it",
                metadata: ["base_port": "\(self.basePort)", "ephemeral": "\(range.lowerBound)-\(range.upperBound)"]
            )
        }
        let secrets = try DevSecrets.loadOrCreate(state.appendingPathComponent("secrets.env"))

        // 1. PostgreSQL
        let binaries = try LocalPostgres.ensureBinaries(logger: logger)
        let postgres = LocalPostgres(dataDirectory: try Self.postgresDirectory(state), port: ports.postgres, binDirectory: binaries)
        if try postgres.initializeIfNeeded() { logger.info("created PostgreSQL cluster", metadata: ["data": "\(postgres.dataDirectory)"]) }
        try postgres.start()
        logger.info("PostgreSQL is up", metadata: ["port": "\(ports.postgres)"])
        var children = ChildProcesses(logs: state.appendingPathComponent("logs"), logger: logger)

        let http = HTTPClient(
            eventLoopGroup: MultiThreadedEventLoopGroup.singleton,
            configuration: {
                var configuration = HTTPClient.Configuration(timeout: .init(connect: .seconds(1), read: .seconds(30)))
                configuration.connectionPool.retryConnectionEstablishment = false
                return configuration
            }()
        )
        do {
            try await Self.createDatabase(postgres, logger: logger)

            // 2. Processes
            let binDirectory = Self.executableDirectory()
            var environment = ProcessInfo.processInfo.environment
            environment["SWITCHYARD_ADMIN_TOKEN"] = secrets.adminToken
            environment["SWITCHYARD_NODE_TOKEN"] = secrets.nodeToken
            environment["SWITCHYARD_MASTER_KEY"] = secrets.masterKey
            environment["SWITCHYARD_DATABASE_URL"] = postgres.url(database: "switchyard")
            try children.start(
                "mock-provider",
                binDirectory + "/switchyard",
                ["mock-provider", "--port", "\(ports.mock)", "--token-latency-ms", "\(self.tokenLatencyMs)"],
                environment: environment
            )
            try children.start("control", binDirectory + "/switchyard-control", ["--port", "\(ports.control)"], environment: environment)
            let controlURL = "http://127.0.0.1:\(ports.control)"
            guard await children.waitUntilReady("control", http, url: controlURL + "/readyz", timeout: .seconds(60)) else {
                throw ValidationError("the control plane did not become ready; see \(state.path)/logs/control.log")
            }
            for (index, port) in ports.nodes.enumerated() {
                let name = "node-\(index + 1)"
                try children.start(
                    name,
                    binDirectory + "/switchyard-node",
                    [
                        "--port", "\(port)", "--control-url", controlURL, "--node-id", "dev-\(name)",
                        "--state-dir", state.appendingPathComponent(name).path, "--upstream-connect-timeout-ms", "1000",
                    ],
                    environment: environment
                )
            }

            // 3. Demo config
            let admin = AdminClient(client: http, baseURL: controlURL, token: secrets.adminToken)
            let demo = try await DevSeed.apply(admin, mockRoot: "http://127.0.0.1:\(ports.mock)", state: state)
            let nodeURLs = ports.nodes.map { "http://127.0.0.1:\($0)" }
            for url in nodeURLs where !(await waitUntilHealthy(http, url + "/readyz", timeout: .seconds(30))) {
                throw ValidationError("node \(url) did not become ready; see \(state.path)/logs/")
            }
            try Self.writeEnvironment(state, adminURL: controlURL, adminToken: secrets.adminToken, nodeURLs: nodeURLs, demo: demo)
            Self.printSummary(state: state, controlURL: controlURL, nodeURLs: nodeURLs, demo: demo, ports: ports)

            // 4. Run until Ctrl-C / SIGTERM.
            if !self.exitAfterSeed {
                try await Self.waitForSignal(children: &children, logger: logger)
            }
        } catch {
            logger.error("dev cluster failed: \(error)")
            await children.stopAll()
            try? postgres.stop()
            try? await http.shutdown()
            throw ExitCode.failure
        }
        await children.stopAll()
        try? postgres.stop()
        try? await http.shutdown()
        say("switchyard dev: stopped. Data kept in \(state.path); run again to resume.")
    }

    /// Waits for SIGINT or SIGTERM, reporting children that exit meanwhile (stopping the control
    /// plane by hand is part of the demo: the nodes keep serving).
    static func waitForSignal(children: inout ChildProcesses, logger: Logger) async throws {
        let received = SignalBox()
        let watcher = Task {
            for await signal in await UnixSignalsSequence(trapping: .sigint, .sigterm) {
                received.value.withLock { $0 = signal }
                break
            }
        }
        defer { watcher.cancel() }
        while true {
            if let signal = received.value.withLock({ $0 }) {
                logger.info("stopping the cluster", metadata: ["signal": "\(signal)"])
                return
            }
            for (name, code) in children.reapExited() {
                logger.warning("\(name) exited", metadata: ["code": "\(code)"])
            }
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    /// As root the server runs as the postgres user, which must be able to reach its folder.
    static func postgresDirectory(_ state: URL) throws -> String {
        let preferred = state.appendingPathComponent("postgres").path
        if LocalPostgres.postgresUserCanUse(state.path) { return preferred }
        let fallback = "/var/tmp/switchyard-dev-" + String(MockHash.fnv(state.path), radix: 36) + "/postgres"
        return fallback
    }

    static func createDatabase(_ postgres: LocalPostgres, logger: Logger) async throws {
        try await withPostgres(url: postgres.url(database: "postgres"), logger: logger) { client in
            let rows = try await client.query("SELECT 1 FROM pg_database WHERE datname = 'switchyard'", logger: logger)
            var exists = false
            for try await _ in rows { exists = true }
            if !exists { try await client.query("CREATE DATABASE switchyard", logger: logger) }
        }
    }

    static func executableDirectory() -> String {
        let path = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: path).deletingLastPathComponent().path
    }

    /// `net.ipv4.ip_local_port_range`: the ports the kernel hands to outgoing connections.
    static func ephemeralPortRange() -> ClosedRange<Int>? {
        guard let text = try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8) else { return nil }
        let bounds = text.split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
        guard bounds.count == 2, bounds[0] <= bounds[1] else { return nil }
        return bounds[0]...bounds[1]
    }

    static func portIsFree(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } != 0
    }

    static func writeEnvironment(_ state: URL, adminURL: String, adminToken: String, nodeURLs: [String], demo: DevSeed.Demo) throws {
        let text = """
            SWITCHYARD_ADMIN_URL=\(adminURL)
            SWITCHYARD_ADMIN_TOKEN=\(adminToken)
            SWITCHYARD_NODE_URLS=\(nodeURLs.joined(separator: ","))
            SWITCHYARD_DEMO_KEY=\(demo.key)
            SWITCHYARD_DEMO_MODEL=\(demo.model)

            """
        let file = state.appendingPathComponent("dev.env")
        try Data(text.utf8).write(to: file, options: .atomic)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file.path)
    }

    static func printSummary(
        state: URL,
        controlURL: String,
        nodeURLs: [String],
        demo: DevSeed.Demo,
        ports: (control: Int, nodes: [Int], mock: Int, postgres: Int)
    ) {
        say(
            """

            Switchyard dev cluster is up.
              control plane (admin API)  \(controlURL)/admin/v1   token in \(state.path)/dev.env
              nodes (OpenAI-compatible)  \(nodeURLs.map { $0 + "/v1" }.joined(separator: "  "))
              mock provider              http://127.0.0.1:\(ports.mock)/v1
              PostgreSQL                 127.0.0.1:\(ports.postgres)
              logs                       \(state.path)/logs/
              demo key                   \(demo.key)
              demo route (model)         \(demo.model)

            Try it:
              curl -s \(nodeURLs[0])/v1/chat/completions \\
                -H "Authorization: Bearer \(demo.key)" -H "Content-Type: application/json" \\
                -d '{"model":"\(demo.model)","messages":[{"role":"user","content":"hello"}]}'

            Connection details: source \(state.path)/dev.env   Stop: Ctrl-C
            """
        )
    }
}

final class SignalBox: Sendable {
    let value = Mutex<UnixSignal?>(nil)
}

/// Writes a line to standard output at once (`print` is block-buffered when stdout is a file or pipe).
func say(_ text: String) {
    // A reader that went away (`switchyard apply … | head -1`) must not stop the work half done:
    // the output is dropped, the command goes on.
    try? FileHandle.standardOutput.write(contentsOf: Data((text + "\n").utf8))
}

enum MockHash {
    static func fnv(_ text: String) -> UInt64 {
        text.utf8.reduce(0xcbf2_9ce4_8422_2325 as UInt64) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
    }
}
