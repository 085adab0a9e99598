import Foundation
public import Logging

/// A private PostgreSQL cluster run from Debian's server binaries: for `switchyard dev` and the
/// test harness. `initdb` and `postgres` refuse to run as root, so as root every server command
/// runs as the `postgres` OS user (`runuser -u postgres --`), which owns the data folder.
public struct LocalPostgres: Sendable {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        init(_ description: String) { self.description = description }
    }

    public let dataDirectory: String
    public let port: Int
    public let binDirectory: String
    let asPostgresUser: Bool

    public init(dataDirectory: String, port: Int, binDirectory: String) {
        self.dataDirectory = dataDirectory
        self.port = port
        self.binDirectory = binDirectory
        self.asPostgresUser = geteuid() == 0
    }

    /// The folder holding `initdb` and `pg_ctl`: `$SWITCHYARD_PG_BIN`, else the newest
    /// `/usr/lib/postgresql/<version>/bin`, else nil.
    public static func findBinaries() -> String? {
        if let explicit = ProcessInfo.processInfo.environment["SWITCHYARD_PG_BIN"],
            FileManager.default.isExecutableFile(atPath: explicit + "/initdb")
        {
            return explicit
        }
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).compactMap(Int.init).sorted(by: >)
        for version in versions where FileManager.default.isExecutableFile(atPath: "\(root)/\(version)/bin/initdb") {
            return "\(root)/\(version)/bin"
        }
        return nil
    }

    /// Finds the server binaries, installing Debian's `postgresql` package when they are missing
    /// and we are root.
    public static func ensureBinaries(logger: Logger) throws -> String {
        if let found = findBinaries() { return found }
        guard geteuid() == 0 else {
            throw Failure("PostgreSQL server binaries not found; install them with: sudo apt-get install -y postgresql")
        }
        logger.info("PostgreSQL server binaries missing; installing Debian's postgresql package")
        var environment = ProcessInfo.processInfo.environment
        environment["DEBIAN_FRONTEND"] = "noninteractive"
        _ = try run("/usr/bin/apt-get", ["update", "-q"], environment: environment)
        _ = try run("/usr/bin/apt-get", ["install", "-y", "-q", "postgresql"], environment: environment)
        guard let found = findBinaries() else { throw Failure("installed postgresql but found no /usr/lib/postgresql/*/bin/initdb") }
        return found
    }

    /// Whether the postgres OS user can reach `path` (as root we run the server as that user).
    public static func postgresUserCanUse(_ path: String) -> Bool {
        guard geteuid() == 0 else { return true }
        return (try? run("/usr/sbin/runuser", ["-u", "postgres", "--", "test", "-x", path])) != nil
    }

    /// Creates the cluster when the folder has none. Returns whether it created one.
    @discardableResult
    public func initializeIfNeeded() throws -> Bool {
        if FileManager.default.fileExists(atPath: self.dataDirectory + "/PG_VERSION") { return false }
        try FileManager.default.createDirectory(atPath: self.dataDirectory, withIntermediateDirectories: true)
        if self.asPostgresUser {
            _ = try Self.run("/bin/chown", ["-R", "postgres:postgres", self.dataDirectory])
        }
        try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: self.dataDirectory)
        _ = try self.server(
            "initdb",
            ["-D", self.dataDirectory, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"]
        )
        return true
    }

    /// Starts the server on 127.0.0.1:`port` and waits until it accepts connections.
    /// `maxConnections` must cover every pool pointed at it (tests run many control planes at once).
    public func start(fsync: Bool = true, maxConnections: Int = 200) throws {
        if self.isRunning() { try self.stop() }
        var options = "-p \(self.port) -c listen_addresses=127.0.0.1 -k /tmp -c max_connections=\(maxConnections)"
        if !fsync { options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off" }
        _ = try self.server(
            "pg_ctl",
            ["-D", self.dataDirectory, "-o", options, "-l", self.dataDirectory + "/server.log", "-w", "-t", "60", "start"]
        )
    }

    public func stop() throws {
        _ = try self.server("pg_ctl", ["-D", self.dataDirectory, "-m", "fast", "-w", "stop"])
    }

    public func isRunning() -> Bool {
        (try? self.server("pg_ctl", ["-D", self.dataDirectory, "status"])) != nil
    }

    /// `postgres://postgres@127.0.0.1:<port>/<database>`
    public func url(database: String) -> String { "postgres://postgres@127.0.0.1:\(self.port)/\(database)" }

    private func server(_ tool: String, _ arguments: [String]) throws -> String {
        let path = self.binDirectory + "/" + tool
        if self.asPostgresUser {
            return try Self.run("/usr/sbin/runuser", ["-u", "postgres", "--", path] + arguments, directory: "/tmp")
        }
        return try Self.run(path, arguments)
    }

    @discardableResult
    static func run(_ path: String, _ arguments: [String], environment: [String: String]? = nil, directory: String? = nil) throws -> String {
        try Subprocess.run(path, arguments, environment: environment, directory: directory)
    }
}
