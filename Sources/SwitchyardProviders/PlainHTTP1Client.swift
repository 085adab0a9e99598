public import AsyncHTTPClient
import NIOConcurrencyHelpers
public import NIOCore
public import NIOHTTP1
import NIOPosix

/// A small HTTP/1.1 client for complete (non-streaming) answers from plain `http://` upstreams:
/// self-hosted vLLM or Ollama, sidecars, and providers behind a local TLS-terminating proxy.
///
/// AsyncHTTPClient stays the client for `https://`, HTTP/2 and streams; this one exists because
/// on the node's hot path it cost about 110 µs of CPU per request, most of a proxied request
/// (docs/benchmarks.md). Here an exchange is one write of head and body, one promise completed
/// when the answer is whole, and keep-alive connections pooled per event loop, so a request
/// stays on the loop that received it. See ADR 0007.
public final class PlainHTTP1Client: Sendable {
    public struct Configuration: Sendable {
        public var connectTimeout: TimeAmount
        /// Idle connections older than this are closed instead of reused.
        public var idleTimeout: TimeAmount
        public var maxIdlePerHost: Int

        public init(connectTimeout: TimeAmount = .seconds(3), idleTimeout: TimeAmount = .seconds(55), maxIdlePerHost: Int = 256) {
            self.connectTimeout = connectTimeout
            self.idleTimeout = idleTimeout
            self.maxIdlePerHost = maxIdlePerHost
        }
    }

    /// The connection closed (or was reset) before the answer was complete.
    public struct ConnectionClosed: Error, CustomStringConvertible {
        /// Whether any byte of the answer had arrived.
        public var midAnswer: Bool
        /// The socket error, when it was one (e.g. a reset).
        public var cause: String?

        public var description: String {
            (self.midAnswer ? "the connection closed during the answer" : "the connection closed before an answer")
                + (self.cause.map { " (\($0))" } ?? "")
        }
    }

    struct PoolKey: Hashable {
        /// The event loop the callers run on; nil for callers on no loop (they share connections).
        var loop: ObjectIdentifier?
        var host: String
        var port: Int
    }

    struct Connection: Sendable {
        var channel: any Channel
        var handler: NIOLoopBound<ExchangeHandler>
        var idleSince: NIODeadline
    }

    private struct Pool {
        var idle: [PoolKey: [Connection]] = [:]
        var shutDown = false
    }

    let group: any EventLoopGroup
    let configuration: Configuration
    private let pool = NIOLockedValueBox(Pool())

    public init(group: (any EventLoopGroup)? = nil, configuration: Configuration = .init()) {
        self.group = group ?? MultiThreadedEventLoopGroup.singleton
        self.configuration = configuration
    }

    /// `http://host[:port]/path` split up; nil for anything else (`https://`, no host).
    public static func split(_ url: String) -> (host: String, port: Int, target: String)? {
        guard url.hasPrefix("http://") else { return nil }
        let rest = url.dropFirst(7)
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        var target = String(rest[authorityEnd...])
        if !target.hasPrefix("/") { target = "/" + target }
        var host = Substring(authority)
        var port = 80
        if authority.hasPrefix("[") {
            // [v6]:port
            guard let close = authority.firstIndex(of: "]") else { return nil }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":") {
                guard let value = Int(after.dropFirst()) else { return nil }
                port = value
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            guard let value = Int(authority[authority.index(after: colon)...]) else { return nil }
            port = value
        }
        guard !host.isEmpty, !host.contains("@"), (1...65_535).contains(port) else { return nil }
        return (String(host), port, target)
    }

    /// POSTs `body` and returns the whole answer. A body over `limit` bytes is cut at `limit + 1`
    /// bytes (so `collect(upTo: limit)` refuses it) and its connection closed.
    public func post(
        host: String,
        port: Int,
        target: String,
        headers: HTTPHeaders,
        body: ByteBuffer,
        limit: Int,
        deadline: NIODeadline
    ) async throws -> HTTPClientResponse {
        // On an event loop (the node runs its tasks on them), the connection lives on that loop.
        let current = MultiThreadedEventLoopGroup.currentEventLoop
        let loop = current ?? self.group.next()
        let key = PoolKey(loop: current.map { ObjectIdentifier($0) }, host: host, port: port)
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: target, headers: headers)
        head.headers.replaceOrAdd(name: "host", value: port == 80 ? host : "\(host):\(port)")
        head.headers.replaceOrAdd(name: "content-length", value: String(body.readableBytes))
        if let reused = self.takeIdle(key) {
            do {
                return try await self.exchange(reused, key: key, head: head, body: body, limit: limit, deadline: deadline)
            } catch let closed as ConnectionClosed where !closed.midAnswer {
                // The server closed the idle connection as the request went out: a new one.
            }
        }
        let connection = try await self.connect(key, on: loop, deadline: deadline)
        return try await self.exchange(connection, key: key, head: head, body: body, limit: limit, deadline: deadline)
    }

    private func exchange(
        _ connection: Connection,
        key: PoolKey,
        head: HTTPRequestHead,
        body: ByteBuffer,
        limit: Int,
        deadline: NIODeadline
    ) async throws -> HTTPClientResponse {
        let channel = connection.channel
        let handler = connection.handler
        let promise = channel.eventLoop.makePromise(of: ExchangeHandler.Answer.self)
        channel.eventLoop.execute {
            handler.value.start(promise, limit: limit)
            // A pooled connection may have closed since it was taken: then the writes fail and
            // no close event will come any more.
            guard channel.isActive else {
                handler.value.fail(ConnectionClosed(midAnswer: false))
                return
            }
            channel.write(HTTPClientRequestPart.head(head), promise: nil)
            channel.write(HTTPClientRequestPart.body(.byteBuffer(body)), promise: nil)
            channel.writeAndFlush(HTTPClientRequestPart.end(nil)).whenFailure { error in
                handler.value.connectionFailed("\(error)")
            }
            let timer = channel.eventLoop.scheduleTask(deadline: deadline) {
                handler.value.fail(HTTPClientError.deadlineExceeded)
                channel.close(promise: nil)
            }
            promise.futureResult.whenComplete { _ in timer.cancel() }
        }
        let answer = try await withTaskCancellationHandler {
            try await promise.futureResult.get()
        } onCancel: {
            channel.eventLoop.execute {
                handler.value.fail(CancellationError())
                channel.close(promise: nil)
            }
        }
        if answer.reusable {
            self.putIdle(Connection(channel: channel, handler: handler, idleSince: .now()), key: key)
        }
        return HTTPClientResponse(version: answer.head.version, status: answer.head.status, headers: answer.head.headers, body: .bytes(answer.body))
    }

    private func connect(_ key: PoolKey, on loop: any EventLoop, deadline: NIODeadline) async throws -> Connection {
        let timeout = min(self.configuration.connectTimeout, max(.milliseconds(1), deadline - .now()))
        let channel = try await ClientBootstrap(group: loop)
            .connectTimeout(timeout)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(ExchangeHandler())
                }
            }
            .connect(host: key.host, port: key.port)
            .get()
        let handler = try await channel.eventLoop.submit {
            NIOLoopBound(try channel.pipeline.syncOperations.handler(type: ExchangeHandler.self), eventLoop: channel.eventLoop)
        }.get()
        return Connection(channel: channel, handler: handler, idleSince: .now())
    }

    private func takeIdle(_ key: PoolKey) -> Connection? {
        let oldest = NIODeadline.now() - self.configuration.idleTimeout
        var stale: [any Channel] = []
        let found: Connection? = self.pool.withLockedValue { pool in
            while let connection = pool.idle[key]?.popLast() {
                if connection.channel.isActive, connection.idleSince > oldest { return connection }
                stale.append(connection.channel)
            }
            return nil
        }
        for channel in stale { channel.close(promise: nil) }
        return found
    }

    private func putIdle(_ connection: Connection, key: PoolKey) {
        let kept = self.pool.withLockedValue { pool in
            guard !pool.shutDown, pool.idle[key, default: []].count < self.configuration.maxIdlePerHost else { return false }
            pool.idle[key, default: []].append(connection)
            return true
        }
        if !kept { connection.channel.close(promise: nil) }
    }

    /// Idle connections in the pool (for tests).
    var idleConnectionCount: Int { self.pool.withLockedValue { $0.idle.values.reduce(0) { $0 + $1.count } } }

    /// Closes the idle connections; later answers close their connections.
    public func shutdown() {
        let channels = self.pool.withLockedValue { pool in
            pool.shutDown = true
            defer { pool.idle = [:] }
            return pool.idle.values.flatMap { $0.map(\.channel) }
        }
        for channel in channels { channel.close(promise: nil) }
    }
}

/// Collects one answer at a time on a pooled connection.
final class ExchangeHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart

    struct Answer: Sendable {
        var head: HTTPResponseHead
        var body: ByteBuffer
        /// The connection may carry the next request.
        var reusable: Bool
    }

    private var promise: EventLoopPromise<Answer>?
    private var head: HTTPResponseHead?
    private var body: ByteBuffer?
    private var limit = 0

    func start(_ promise: EventLoopPromise<Answer>, limit: Int) {
        self.promise = promise
        self.head = nil
        self.body = nil
        self.limit = limit
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
        case .body(var part):
            guard self.promise != nil else { return }
            if self.body == nil {
                self.body = part
            } else {
                self.body!.writeBuffer(&part)
            }
            if self.body!.readableBytes > self.limit {
                // Enough to know it is too large: no need to read the rest.
                self.succeed(reusable: false)
                context.close(promise: nil)
            }
        case .end:
            let keepAlive = self.head?.isKeepAlive ?? false
            self.succeed(reusable: keepAlive)
            if !keepAlive { context.close(promise: nil) }
        }
    }

    private func succeed(reusable: Bool) {
        guard let promise = self.promise, let head = self.head else { return }
        self.promise = nil
        promise.succeed(Answer(head: head, body: self.body ?? ByteBuffer(), reusable: reusable))
        self.body = nil
    }

    func fail(_ error: any Error) {
        guard let promise = self.promise else { return }
        self.promise = nil
        promise.fail(error)
    }

    /// The connection closed, failed a write or was reset: on a reused connection, a request
    /// with no byte of its answer yet is sent again on a new one.
    func connectionFailed(_ cause: String?) {
        self.fail(PlainHTTP1Client.ConnectionClosed(midAnswer: self.head != nil, cause: cause))
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.connectionFailed(nil)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.connectionFailed("\(error)")
        context.close(promise: nil)
    }
}
