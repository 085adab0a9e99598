import Foundation
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
                for statement in Self.statements(migration.sql) {
                    try await transaction.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await transaction.query(
                    "INSERT INTO schema_migrations (version, name) VALUES (\(migration.version), \(migration.name))",
                    logger: logger
                )
            }
            applied.append(migration.version)
        }
        return applied
    }

    /// Splits a migration into statements at top-level semicolons, skipping comments and
    /// respecting quoted strings, quoted identifiers and dollar-quoted bodies.
    public static func statements(_ sql: String) -> [String] {
        var statements: [String] = []
        var current = ""
        let characters = Array(sql)
        var index = 0
        func flush() {
            let trimmed = current.trimmingCharacters(in: .whitespacesAndNewlines)
            if !trimmed.isEmpty { statements.append(trimmed) }
            current = ""
        }
        while index < characters.count {
            let character = characters[index]
            let next: Character? = index + 1 < characters.count ? characters[index + 1] : nil
            if character == "-", next == "-" {
                while index < characters.count, characters[index] != "\n" { index += 1 }
                continue
            }
            if character == "/", next == "*" {
                index += 2
                while index + 1 < characters.count, !(characters[index] == "*" && characters[index + 1] == "/") { index += 1 }
                index += 2
                continue
            }
            if character == "'" || character == "\"" {
                current.append(character)
                index += 1
                while index < characters.count {
                    current.append(characters[index])
                    if characters[index] == character {
                        if index + 1 < characters.count, characters[index + 1] == character {
                            current.append(character)
                            index += 2
                            continue
                        }
                        break
                    }
                    index += 1
                }
                index += 1
                continue
            }
            if character == "$" {
                // A dollar-quote tag: $$ or $tag$.
                var end = index + 1
                while end < characters.count, characters[end].isLetter || characters[end].isNumber || characters[end] == "_" { end += 1 }
                if end < characters.count, characters[end] == "$" {
                    let tag = String(characters[index...end])
                    current += tag
                    index = end + 1
                    let rest = String(characters[index...])
                    if let close = rest.range(of: tag) {
                        current += rest[..<close.upperBound]
                        index += rest.distance(from: rest.startIndex, to: close.upperBound)
                    } else {
                        current += rest
                        index = characters.count
                    }
                    continue
                }
            }
            if character == ";" {
                flush()
                index += 1
                continue
            }
            current.append(character)
            index += 1
        }
        flush()
        return statements
    }
}
