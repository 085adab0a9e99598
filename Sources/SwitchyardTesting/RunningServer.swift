public import AsyncHTTPClient
public import Foundation
public import Hummingbird
import Logging
public import NIOCore
import NIOPosix
public import PostgresNIO
import ServiceLifecycle
public import SwitchyardCLI
import SwitchyardControl
public import SwitchyardCore
import SwitchyardMockProvider
import SwitchyardNode

/// A server running in this process on a real loopback socket, stopped by graceful shutdown.
public final class RunningServer: Sendable {
    public let port: Int
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    public var url: String { "http://127.0.0.1:\(self.port)" }

    init(port: Int, group: ServiceGroup, task: Task<Void, any Error>) {
        self.port = port
        self.group = group
        self.task = task
    }

    /// Starts the application `build` returns and waits until it listens.
    public static func start<App: ApplicationProtocol>(
        _ build: (@escaping @Sendable (any Channel) async -> Void) -> App
    ) async throws -> RunningServer {
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = build { channel in continuation.yield(channel.localAddress?.port ?? 0) }
        let group = ServiceGroup(configuration: .init(services: [app], logger: TestPostgres.logger))
        let task = Task {
            defer { continuation.finish() }
            try await group.run()
        }
        guard let port = await ports.first(where: { _ in true }) else {
            _ = try await task.value
            throw HTTPError(.internalServerError, message: "server stopped before listening")
        }
        return RunningServer(port: port, group: group, task: task)
    }

    public func stop() async {
        await self.group.triggerGracefulShutdown()
        _ = try? await self.task.value
    }
}

/// Secrets shared by the control planes and nodes of one test.
public struct TestSecrets: Sendable {
    public var adminToken = "test-admin-token"
    public var nodeToken = "test-node-token-" + UUID().uuidString
    public var masterKey = MasterKey.generateBase64()

    public init() {}
}

public enum TestServers {
    public static func control(
        database: PostgresClient.Configuration,
        secrets: TestSecrets,
        versionPollInterval: Duration = .seconds(60),
        limits: SnapshotLimits = .init(),
        port: Int = 0,
        leaseTTL: Duration = .seconds(30)
    ) async throws -> RunningServer {
        let configuration = ControlConfiguration(
            host: "127.0.0.1",
            port: port,
            postgres: database,
            adminToken: secrets.adminToken,
            nodeToken: secrets.nodeToken,
            masterKey: try MasterKey(base64: secrets.masterKey),
            versionPollInterval: versionPollInterval,
            limits: limits,
            leaseTTL: leaseTTL,
            // Tests judge canaries quickly.
            canaryAnalysisInterval: .milliseconds(250)
        )
        return try await RunningServer.start { onRunning in
            buildControlApplication(configuration, logger: TestPostgres.logger, onServerRunning: onRunning)
        }
    }

    public static func node(
        controlURL: String,
        secrets: TestSecrets,
        stateDirectory: String? = nil,
        nodeID: String = "test-node-" + UUID().uuidString.prefix(6),
        limits: SnapshotLimits = .init(),
        longPollWait: Duration = .seconds(30),
        maxRequestBodyBytes: Int = 16 << 20,
        region: String? = nil,
        breakerThreshold: Int = 5,
        breakerOpenFor: Duration = .seconds(30),
        leaseReportInterval: Duration = .seconds(1)
    ) async throws -> RunningServer {
        let configuration = NodeConfiguration(
            host: "127.0.0.1",
            port: 0,
            controlURL: controlURL,
            nodeToken: secrets.nodeToken,
            stateDirectory: stateDirectory,
            nodeID: nodeID,
            limits: limits,
            longPollWait: longPollWait,
            upstreamConnectTimeout: .milliseconds(500),
            maxRequestBodyBytes: maxRequestBodyBytes,
            region: region,
            breakerThreshold: breakerThreshold,
            breakerOpenFor: breakerOpenFor,
            leaseReportInterval: leaseReportInterval,
            metricsReportInterval: .milliseconds(250)
        )
        return try await RunningServer.start { onRunning in
            buildNodeApplication(configuration, logger: TestPostgres.logger, onServerRunning: onRunning)
        }
    }

    public static func mockProvider(tokenLatencyMs: Int = 0) async throws -> RunningServer {
        try await RunningServer.start { onRunning in
            MockProvider.buildApplication(
                .init(host: "127.0.0.1", port: 0, tokenLatencyMs: tokenLatencyMs),
                logger: TestPostgres.logger,
                onServerRunning: onRunning
            )
        }
    }
}

/// An HTTP client for tests: short connect timeout, no connection retries.
public func makeTestHTTPClient() -> HTTPClient {
    var configuration = HTTPClient.Configuration(timeout: .init(connect: .seconds(1), read: .seconds(60)))
    configuration.connectionPool.retryConnectionEstablishment = false
    return HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: configuration)
}

/// Retries `check` until it returns true or `timeout` passes; returns whether it succeeded.
public func eventually(timeout: Duration = .seconds(2), _ check: @Sendable () async throws -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    repeat {
        if (try? await check()) == true { return true }
        try? await Task.sleep(for: .milliseconds(20))
    } while ContinuousClock.now < deadline
    return (try? await check()) == true
}

extension AdminClient {
    public static func test(_ client: HTTPClient, _ control: RunningServer, _ secrets: TestSecrets) -> AdminClient {
        AdminClient(client: client, baseURL: control.url, token: secrets.adminToken)
    }
}
