import Foundation
public import Logging
import NIOPosix
public import PostgresNIO
import SwitchyardControl

/// One throwaway PostgreSQL cluster per test process, on a free loopback port, with a migrated
/// template database; each suite gets its own database cloned from it.
/// `POSTGRES_HOST`/`POSTGRES_PORT`/`POSTGRES_USER`/`POSTGRES_PASSWORD` point it at an existing
/// server instead.
public enum TestPostgres {
    public static let templateName = "switchyard_template"

    struct Server: Sendable {
        var host: String
        var port: Int
        var user: String
        var password: String?
    }

    private static let server = Task<Server, any Error> { try await start() }

    /// The in-process servers' logger: prints at `LOG_LEVEL` (default warning) and records every
    /// level for ``LogCapture``.
    public static let logger: Logger = {
        let printLevel = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
        var logger = Logger(label: "switchyard-tests") { label in CapturingLogHandler(label: label, printLevel: printLevel) }
        logger.logLevel = .trace
        return logger
    }()

    /// A new, migrated database of its own.
    public static func makeDatabase(_ prefix: String = "t") async throws -> PostgresClient.Configuration {
        let server = try await self.server.value
        let name = "\(prefix)_\(UUID().uuidString.prefix(8).lowercased())"
        try await withClient(server, database: "postgres") { client in
            try await client.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \"\(name)\" TEMPLATE \(templateName)"), logger: logger)
        }
        return configuration(server, database: name)
    }

    /// Runs SQL as the superuser on the server's `postgres` database (e.g. to cut a database off).
    public static func executeAsSuperuser(_ sql: String) async throws {
        let server = try await self.server.value
        try await withClient(server, database: "postgres") { client in
            try await client.query(PostgresQuery(unsafeSQL: sql), logger: logger)
        }
    }

    static func configuration(_ server: Server, database: String) -> PostgresClient.Configuration {
        var configuration = PostgresClient.Configuration(
            host: server.host,
            port: server.port,
            username: server.user,
            password: server.password,
            database: database,
            tls: .disable
        )
        configuration.options.maximumConnections = 8
        return configuration
    }

    static func withClient(_ server: Server, database: String, _ body: @Sendable (PostgresClient) async throws -> Void) async throws {
        let client = PostgresClient(configuration: configuration(server, database: database), backgroundLogger: logger)
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await client.run() }
            try await body(client)
            group.cancelAll()
        }
    }

    private static func start() async throws -> Server {
        let environment = ProcessInfo.processInfo.environment
        let server: Server
        if let port = environment["POSTGRES_PORT"].flatMap(Int.init) {
            server = Server(
                host: environment["POSTGRES_HOST"] ?? "127.0.0.1",
                port: port,
                user: environment["POSTGRES_USER"] ?? "postgres",
                password: environment["POSTGRES_PASSWORD"]
            )
        } else {
            // initdb and pg_ctl block for seconds (tens under a loaded suite): on a thread of the
            // blocking pool, not on one of Swift's few cooperative threads, where they starved
            // every other test's tasks (a loopback request in another suite outlived its deadline).
            let postgres = try await NIOThreadPool.singleton.runIfActive {
                let binaries = try LocalPostgres.ensureBinaries(logger: logger)
                let directory = "/tmp/switchyard-test-pg-\(getpid())"
                try? FileManager.default.removeItem(atPath: directory)
                let postgres = LocalPostgres(dataDirectory: directory, port: try freePort(), binDirectory: binaries)
                try postgres.initializeIfNeeded()
                // Test suites run in parallel, each with control planes and their pools: a full
                // server would leave a lease waiting for ever.
                try postgres.start(fsync: false, maxConnections: 800)
                return postgres
            }
            atexit {
                TestPostgres.stopAtExit()
            }
            self.running.withLock { $0 = postgres }
            server = Server(host: "127.0.0.1", port: postgres.port, user: "postgres", password: nil)
        }
        try await withClient(server, database: "postgres") { client in
            try await client.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(templateName)"), logger: logger)
            try await client.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(templateName)"), logger: logger)
        }
        try await withClient(server, database: templateName) { client in
            try await Migrations.apply(client: client, logger: logger)
        }
        return server
    }

    private static let running = LockedBox<LocalPostgres?>(nil)

    static func stopAtExit() {
        guard let postgres = running.withLock({ $0 }) else { return }
        try? postgres.stop()
        try? FileManager.default.removeItem(atPath: postgres.dataDirectory)
    }
}
