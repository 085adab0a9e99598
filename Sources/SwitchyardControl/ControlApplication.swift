import Foundation
public import Hummingbird
public import Logging
import NIOCore
public import PostgresNIO
import Prometheus
import ServiceLifecycle
public import SwitchyardCore
import SwitchyardWire

/// Everything the control plane needs to start.
public struct ControlConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var postgres: PostgresClient.Configuration
    public var adminToken: String
    public var nodeToken: String
    public var masterKey: MasterKey
    /// How often each replica re-reads the config version in case a notification was lost.
    public var versionPollInterval: Duration
    /// The longest a snapshot long-poll is held.
    public var maxLongPoll: Duration
    /// Limits enforced on write, so the control plane never publishes what nodes would reject.
    /// Keep them at or below the nodes' `--max-*` settings.
    public var limits: SnapshotLimits
    /// How long a budget lease may be spent without a renewal (a node renews every second or so).
    public var leaseTTL: Duration
    /// Webhook delivery: poll interval, retry schedule, attempts, per-attempt timeout.
    public var webhooks: WebhookDelivery.Configuration
    /// How often the leading replica judges running canaries.
    public var canaryAnalysisInterval: Duration

    public init(
        host: String = "127.0.0.1",
        port: Int = 7700,
        postgres: PostgresClient.Configuration,
        adminToken: String,
        nodeToken: String,
        masterKey: MasterKey,
        versionPollInterval: Duration = .seconds(5),
        maxLongPoll: Duration = .seconds(30),
        limits: SnapshotLimits = .init(),
        leaseTTL: Duration = .seconds(30),
        webhooks: WebhookDelivery.Configuration = .init(),
        canaryAnalysisInterval: Duration = .seconds(1)
    ) {
        self.canaryAnalysisInterval = canaryAnalysisInterval
        self.leaseTTL = leaseTTL
        self.webhooks = webhooks
        self.host = host
        self.port = port
        self.postgres = postgres
        self.adminToken = adminToken
        self.nodeToken = nodeToken
        self.masterKey = masterKey
        self.versionPollInterval = versionPollInterval
        self.maxLongPoll = maxLongPoll
        self.limits = limits
    }
}

/// Builds the control-plane application: Postgres client, migrations before the server starts,
/// the version watcher, the admin and node APIs.
public func buildControlApplication(
    _ configuration: ControlConfiguration,
    logger: Logger,
    onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
) -> some ApplicationProtocol {
    let client = PostgresClient(configuration: configuration.postgres, backgroundLogger: logger)
    let store = ConfigStore(client: client, logger: logger)
    let compiler = SnapshotCompiler(masterKey: configuration.masterKey, sealer: CredentialSealer(nodeToken: configuration.nodeToken))
    let publisher = SnapshotPublisher(
        compiler: compiler,
        logger: logger,
        readSource: { try await store.readSnapshotSource() },
        readVersion: { try await store.currentVersion() }
    )
    let schemaReady = SchemaGate()
    let watcher = ConfigVersionWatcher(
        store: store,
        publisher: publisher,
        pollInterval: configuration.versionPollInterval,
        schemaReady: schemaReady,
        logger: logger
    )
    let webhookDelivery = WebhookDelivery(
        store: store,
        masterKey: configuration.masterKey,
        configuration: configuration.webhooks,
        schemaReady: schemaReady,
        logger: logger
    )
    let registry = PrometheusCollectorRegistry()
    let versionGauge = registry.makeGauge(
        descriptor: MetricNameDescriptor(
            namespace: "switchyard",
            subsystem: "control",
            metricName: "config",
            unitName: "version",
            helpText: "Newest config version this replica knows"
        )
    )

    let router = Router()
    router.add(middleware: AdminErrorMiddleware())
    router.get("healthz") { _, _ in "ok" }
    router.get("readyz") { _, _ -> Response in
        do {
            try await store.ping()
            return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "ready")))
        } catch {
            return Response(status: .serviceUnavailable, body: .init(byteBuffer: ByteBuffer(string: "postgres unreachable")))
        }
    }
    router.get("metrics") { _, _ -> Response in
        versionGauge.set(Double(await publisher.latestKnownVersion))
        var buffer: [UInt8] = []
        buffer.reserveCapacity(1024)
        registry.emit(into: &buffer)
        return Response(
            status: .ok,
            headers: [.contentType: "text/plain; version=0.0.4"],
            body: .init(byteBuffer: ByteBuffer(bytes: buffer))
        )
    }
    AdminAPI(store: store, masterKey: configuration.masterKey, adminToken: configuration.adminToken, limits: configuration.limits).register(
        on: router
    )
    NodeAPI(
        store: store,
        publisher: publisher,
        nodeToken: configuration.nodeToken,
        maxWait: configuration.maxLongPoll,
        leaseTTL: configuration.leaseTTL,
        logger: logger
    )
    .register(on: router)

    var app = Application(
        router: router,
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "switchyard-control"),
        services: [
            client, watcher, webhookDelivery,
            CanaryAnalyzer(store: store, interval: configuration.canaryAnalysisInterval, schemaReady: schemaReady, logger: logger),
        ],
        onServerRunning: onServerRunning,
        logger: logger
    )
    app.beforeServerStarts {
        try await Migrations.apply(client: client, logger: logger)
        await schemaReady.open()
    }
    return app
}

/// Renders every error on `/admin` paths in the admin error shape, and never leaks internals:
/// unexpected errors are logged in full and answered with a generic message.
struct AdminErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as AdminError {
            throw error
        } catch let error as FieldError {
            throw AdminError(error)
        } catch let error as HTTPError {
            guard request.uri.path.hasPrefix("/admin/") else { throw error }
            // The router answers 404 for a known path with another method: that is a 405.
            let allowed = AdminAPI.methods(servingPath: request.uri.path)
            if error.status == .notFound, !allowed.isEmpty {
                throw AdminError(
                    .methodNotAllowed,
                    code: "method_not_allowed",
                    message: "\(request.method.rawValue) is not served here; use \(allowed.joined(separator: ", ")).",
                    headers: [.allow: allowed.joined(separator: ", ")]
                )
            }
            let code: String =
                switch error.status {
                case .notFound: "unknown_path"
                case .methodNotAllowed: "method_not_allowed"
                case .badRequest: "bad_request"
                case .contentTooLarge: "body_too_large"
                default: "error"
                }
            throw AdminError(error.status, code: code, message: error.body ?? error.status.reasonPhrase)
        } catch let error as any HTTPResponseError {
            throw error
        } catch {
            context.logger.error("request failed", metadata: ["path": "\(request.uri.path)", "error": "\(String(reflecting: error))"])
            if Self.isDatabaseError(error) {
                throw AdminError(.serviceUnavailable, code: "unavailable", message: "The config database is unavailable; nothing was changed.")
            }
            throw AdminError(.internalServerError, code: "internal", message: "Internal error; see the control-plane log.")
        }
    }

    /// Errors from the database or its connection pool (whatever their type) mean "try later".
    static func isDatabaseError(_ error: any Error) -> Bool {
        if error is PSQLError || error is PostgresTransactionError { return true }
        let type = String(reflecting: Swift.type(of: error))
        return type.contains("PostgresNIO") || type.contains("ConnectionPool") || type.contains("NIOConnectionError")
            || type.contains("NIOCore.IOError") || type.contains("ChannelError")
    }
}
