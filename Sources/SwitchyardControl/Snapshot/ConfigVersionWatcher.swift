public import Logging
import PostgresNIO
public import ServiceLifecycle

/// Tells the publisher about new config versions: LISTEN on the notify channel for immediacy,
/// plus a periodic read of `config_state` that heals a lost notification or a dropped LISTEN
/// connection. Every control-plane replica runs one.
public struct ConfigVersionWatcher: Service {
    let store: ConfigStore
    let publisher: SnapshotPublisher
    let pollInterval: Duration
    let logger: Logger

    public init(store: ConfigStore, publisher: SnapshotPublisher, pollInterval: Duration = .seconds(5), logger: Logger) {
        self.store = store
        self.publisher = publisher
        self.pollInterval = pollInterval
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.listenLoop() }
                group.addTask { await self.pollLoop() }
            }
        }
    }

    private func pollLoop() async {
        while !Task.isCancelled {
            do {
                await self.publisher.observe(version: try await self.store.currentVersion())
            } catch {
                self.logger.warning("config version check failed", metadata: ["error": "\(String(reflecting: error))"])
            }
            try? await Task.sleep(for: self.pollInterval)
        }
    }

    private func listenLoop() async {
        var backoff = Duration.milliseconds(200)
        while !Task.isCancelled {
            do {
                try await self.store.client.withConnection { connection in
                    try await connection.listen(on: ConfigStore.notifyChannel) { notifications in
                        // Anything committed before LISTEN took effect is caught by this read.
                        await self.publisher.observe(version: try await self.store.currentVersion())
                        backoff = .milliseconds(200)
                        for try await notification in notifications {
                            if let version = Int(notification.payload) {
                                await self.publisher.observe(version: version)
                            }
                        }
                    }
                }
            } catch {
                if Task.isCancelled { return }
                self.logger.warning("LISTEN connection lost; reconnecting", metadata: ["error": "\(String(reflecting: error))"])
            }
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, .seconds(5))
        }
    }
}
