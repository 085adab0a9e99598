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
    let schemaReady: SchemaGate
    let logger: Logger

    public init(
        store: ConfigStore,
        publisher: SnapshotPublisher,
        pollInterval: Duration = .seconds(5),
        schemaReady: SchemaGate,
        logger: Logger
    ) {
        self.store = store
        self.publisher = publisher
        self.pollInterval = pollInterval
        self.schemaReady = schemaReady
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            // Nothing to watch until the migrations have created the tables.
            guard await self.schemaReady.wait() else { return }
            await withDiscardingTaskGroup { group in
                group.addTask { await self.listenLoop() }
                group.addTask { await self.pollLoop() }
            }
        }
    }

    private func pollLoop() async {
        while !Task.isCancelled {
            await self.publisher.reconcile()
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

/// Opens once the database schema is migrated; services that query it wait here first.
public actor SchemaGate {
    private var isOpen = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    public init() {}

    public func open() {
        self.isOpen = true
        for waiter in self.waiters { waiter.resume() }
        self.waiters.removeAll()
    }

    /// Returns true once open, false if the waiting task was cancelled first.
    public func wait() async -> Bool {
        if self.isOpen { return true }
        await withTaskCancellationHandler {
            await withCheckedContinuation { self.waiters.append($0) }
        } onCancel: {
            Task { await self.releaseWaiters() }
        }
        return self.isOpen && !Task.isCancelled
    }

    private func releaseWaiters() {
        for waiter in self.waiters { waiter.resume() }
        self.waiters.removeAll()
    }
}
