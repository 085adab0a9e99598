public import Logging
public import PostgresNIO

/// One numbered SQL migration from `migrations/`.
public struct Migration: Sendable, Hashable {
    public var version: Int
    public var name: String
    public var sql: String
}

/// Applies the embedded migrations in order, once, under a Postgres advisory lock, recording
/// each in `schema_migrations`. Safe to run from several control-plane replicas at once.
public enum Migrations {
    /// Advisory lock id shared by every replica ("SWYD").
    static let lockID: Int64 = 0x5357_5944

    public static var all: [Migration] { embedded.sorted { $0.version < $1.version } }

    /// Returns the versions it applied.
    @discardableResult
    public static func apply(client: PostgresClient, logger: Logger) async throws -> [Int] {
        try await client.withConnection { connection in
            try await connection.query("SELECT pg_advisory_lock(\(Self.lockID))", logger: logger)
            do {
                let applied = try await self.applyLocked(connection: connection, logger: logger)
                try await connection.query("SELECT pg_advisory_unlock(\(Self.lockID))", logger: logger)
                return applied
            } catch {
                _ = try? await connection.query("SELECT pg_advisory_unlock(\(Self.lockID))", logger: logger)
                throw error
            }
        }
    }

    private static func applyLocked(connection: PostgresConnection, logger: Logger) async throws -> [Int] {
        try await connection.query(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version INTEGER PRIMARY KEY,
                name TEXT NOT NULL,
                applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
            )
            """,
            logger: logger
        )
        var done = Set<Int>()
        for try await version in try await connection.query("SELECT version FROM schema_migrations", logger: logger).decode(Int.self) {
            done.insert(version)
        }
        var applied: [Int] = []
        for migration in self.all where !done.contains(migration.version) {
            logger.info("applying migration", metadata: ["version": "\(migration.version)", "name": "\(migration.name)"])
            try await connection.withTransaction(logger: logger) { transaction in
                // Migration files are trusted, multi-statement SQL: the simple query protocol runs them whole.
                _ = try await transaction.simpleQuery(migration.sql).get()
                try await transaction.query(
                    "INSERT INTO schema_migrations (version, name) VALUES (\(migration.version), \(migration.name))",
                    logger: logger
                )
            }
            applied.append(migration.version)
        }
        return applied
    }
}
