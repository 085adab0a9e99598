import Logging
import PostgresNIO
import SwitchyardControl

/// Applies migrations with a short-lived client.
func runMigrations(_ configuration: PostgresClient.Configuration, logger: Logger) async throws {
    let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
    try await withThrowingDiscardingTaskGroup { group in
        group.addTask { await client.run() }
        let applied = try await Migrations.apply(client: client, logger: logger)
        logger.info("migrations done", metadata: ["applied": "\(applied)"])
        group.cancelAll()
    }
}
