import AsyncHTTPClient
import Foundation
import HTTPTypes
public import Hummingbird
public import Logging
public import NIOCore
import NIOFoundationCompat
import NIOPosix
import Prometheus
import ServiceLifecycle
import SwitchyardCore
import SwitchyardProviders
import SwitchyardWire

/// Builds a data-plane node: loads the last good snapshot from disk (so it can serve before, or
/// without, the control plane), then serves traffic while the syncer keeps the snapshot current.
public func buildNodeApplication(
    _ configuration: NodeConfiguration,
    logger: Logger,
    onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
) -> some ApplicationProtocol {
    let state = SnapshotState()
    let metrics = NodeMetrics()
    let loader = SnapshotLoader(sealer: CredentialSealer(nodeToken: configuration.nodeToken), limits: configuration.limits)
    let disk = configuration.stateDirectory.map { SnapshotDisk(directory: URL(fileURLWithPath: $0)) }
    if let disk {
        do {
            if let (manifest, blobs, legacy) = try disk.read() {
                let snapshot = try loader.load(manifestBytes: manifest, blobs: blobs)
                // Later versions save only the shards they fetch: the copy moves to the current layout now.
                if legacy { try disk.save(manifestBytes: manifest, blobs: blobs) }
                state.swap(snapshot)
                metrics.configVersion.set(Double(snapshot.version))
                logger.info("serving snapshot from disk", metadata: ["version": "\(snapshot.version)"])
            }
        } catch {
            logger.warning("ignoring unusable snapshot on disk", metadata: ["error": "\(error)"])
        }
    }

    let upstreamClient = UpstreamHTTPClient.make(
        .init(connectTimeout: .nanoseconds(Int64(configuration.upstreamConnectTimeout.milliseconds) * 1_000_000))
    )
    let plainClient = PlainHTTP1Client(
        configuration: .init(connectTimeout: .nanoseconds(Int64(configuration.upstreamConnectTimeout.milliseconds) * 1_000_000))
    )
    var controlClientConfiguration = HTTPClient.Configuration(
        redirectConfiguration: .disallow,
        timeout: .init(connect: .seconds(2), read: .seconds(60))
    )
    controlClientConfiguration.connectionPool.retryConnectionEstablishment = false
    let controlClient = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: controlClientConfiguration)
    let bootID = DecisionHeaders.makeTraceID()
    let syncer = SnapshotSyncer(
        configuration: configuration,
        state: state,
        loader: loader,
        disk: disk,
        client: controlClient,
        bootID: bootID,
        metrics: metrics,
        logger: logger
    )
    let ledger = BudgetLedger(
        caller: LeaseCaller(
            client: controlClient,
            controlURL: configuration.controlURL,
            nodeToken: configuration.nodeToken,
            nodeID: configuration.nodeID,
            bootID: bootID,
            timeout: .seconds(5),
            logger: logger
        ),
        onWait: { metrics.leaseWait() }
    )
    let canaries = CanaryCounters()
    let proxy = ChatProxy(
        state: state,
        adapter: ProviderAdapter(client: upstreamClient, plain: plainClient),
        metrics: metrics,
        resilience: Resilience(settings: configuration.resilience),
        ledger: ledger,
        canaries: canaries,
        region: configuration.region,
        maxRequestBodyBytes: configuration.maxRequestBodyBytes,
        maxResponseBodyBytes: configuration.maxResponseBodyBytes
    )

    let router = Router()
    router.add(middleware: OpenAIErrorMiddleware())
    router.get("healthz") { _, _ in "ok" }
    router.get("readyz") { _, _ -> Response in
        guard let loaded = state.loaded else {
            return Response(status: .serviceUnavailable, body: .init(byteBuffer: ByteBuffer(string: "no snapshot yet")))
        }
        return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "ready version=\(loaded.version)")))
    }
    router.get("metrics") { _, _ -> Response in
        Response(
            status: .ok,
            headers: [.contentType: "text/plain; version=0.0.4"],
            body: .init(byteBuffer: ByteBuffer(bytes: metrics.emit()))
        )
    }
    router.post("v1/chat/completions") { request, context in await proxy.handle(request, context: context, endpoint: .chatCompletions) }
    router.post("v1/messages") { request, context in await proxy.handle(request, context: context, endpoint: .messages) }
    router.post("v1/feedback") { request, context in await proxy.feedback(request, context: context) }
    router.post("v1/embeddings") { request, context in await proxy.handle(request, context: context, endpoint: .embeddings) }
    router.get("v1/models") { request, _ -> Response in ModelsEndpoint.list(request, state: state) }

    let responder = router.buildResponder()
    return Application(
        responder: responder,
        server: configuration.hummingbirdServer
            ? .http1()
            : .node(responder: responder, serverName: "switchyard-node", maxBodyBytes: configuration.maxRequestBodyBytes),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "switchyard-node"),
        services: [
            HTTPClientService(client: upstreamClient), HTTPClientService(client: controlClient),
            PlainClientService(client: plainClient), syncer,
            EventLoopLagProbe(group: MultiThreadedEventLoopGroup.singleton, registry: metrics.registry),
            LeaseReporter(ledger: ledger, interval: configuration.leaseReportInterval),
            CanaryReporter(
                counters: canaries,
                client: controlClient,
                controlURL: configuration.controlURL,
                nodeToken: configuration.nodeToken,
                nodeID: configuration.nodeID,
                bootID: bootID,
                interval: configuration.metricsReportInterval,
                logger: logger
            ),
        ],
        onServerRunning: onServerRunning,
        logger: logger
    )
}

/// Shuts an HTTP client down on graceful shutdown.
struct HTTPClientService: Service {
    let client: HTTPClient

    func run() async throws {
        try? await gracefulShutdown()
        try await self.client.shutdown()
    }
}

/// Closes the plain client's idle connections on graceful shutdown.
struct PlainClientService: Service {
    let client: PlainHTTP1Client

    func run() async throws {
        try? await gracefulShutdown()
        self.client.shutdown()
    }
}

/// `GET /v1/models`: the route aliases the caller's tenant can use, in OpenAI's list shape.
enum ModelsEndpoint {
    static func list(_ request: Request, state: SnapshotState) -> Response {
        var decision = DecisionHeaders(traceID: DecisionHeaders.makeTraceID())
        decision.attempts = 0
        guard let snapshot = state.loaded else { return ChatProxy.errorResponse(.notReady, decision: decision) }
        let key: RoutingTable.KeyEntry
        do {
            key = try ChatProxy.authenticate(request, table: snapshot.table)
        } catch {
            return ChatProxy.errorResponse(error, decision: decision)
        }
        let aliases = (snapshot.table.tenants[key.tenant]?.aliases ?? []).filter { key.key.mayUse(route: $0) }
        let body: JSONValue = [
            "object": "list",
            "data": .array(aliases.map { ["id": .string($0), "object": "model", "created": 0, "owned_by": .string("switchyard")] }),
        ]
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        decision.apply(to: &headers)
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body.serialized())))
    }
}

/// Unknown paths and methods on the data plane answer in OpenAI's error shape too.
struct OpenAIErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError {
            let type = error.status.code >= 500 ? "server_error" : "invalid_request_error"
            let apiError = APIError(
                status: error.status.code,
                type: type,
                code: error.status == .notFound ? "unknown_url" : nil,
                message: error.status == .notFound
                    ? "Unknown request URL: \(request.method.rawValue) \(request.uri.path)."
                    : (error.body ?? error.status.reasonPhrase)
            )
            return ChatProxy.errorResponse(apiError, decision: DecisionHeaders(traceID: DecisionHeaders.makeTraceID()))
        }
    }
}
