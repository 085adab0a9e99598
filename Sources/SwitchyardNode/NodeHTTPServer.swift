import HTTPTypes
public import Hummingbird
import HummingbirdCore
public import Logging
public import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The node's HTTP/1.1 server connections: the router's responder called from a channel handler.
///
/// Hummingbird's own HTTP/1 channel hands each connection to a task through `NIOAsyncChannel`:
/// every request part crosses an async sequence and every response part an async writer, each
/// with its own state machine, lock and task wake-up. On a node pinned to one core that
/// machinery was about a sixth of a proxied request's cost (docs/benchmarks.md). Here the
/// request is collected on the event loop, one task per request runs the responder (on the same
/// loop: the loops are the concurrency executor), and the answer is written straight to the
/// channel. Routing, middleware and request contexts are Hummingbird's, unchanged. See ADR 0009.
///
/// NIO's pipelining handler keeps answers in request order and closes quiesced connections
/// after their answer (graceful shutdown); its error handler answers unparseable requests 400.
public struct NodeHTTP1Channel<Responder: HTTPResponder>: ServerChildChannel
where Responder.Context: InitializableFromSource<ApplicationRequestContextSource> {
    public struct Value: ServerChildChannelValue {
        public let channel: any Channel
        let handler: NIOLoopBound<NodeRequestHandler<Responder>>
    }

    let responder: Responder
    let serverName: String?
    /// Request bodies are kept up to this many bytes (and one more, so the handler's
    /// `collectBody(upTo:)` refuses them); the rest is read and dropped.
    let maxBodyBytes: Int

    public init(responder: Responder, serverName: String?, maxBodyBytes: Int) {
        self.responder = responder
        self.serverName = serverName
        self.maxBodyBytes = maxBodyBytes
    }

    public func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                withPipeliningAssistance: true,
                withErrorHandling: true,
                withOutboundHeaderValidation: false  // HTTPFields are validated already
            )
            try channel.pipeline.syncOperations.addHandler(HTTP1ToHTTPServerCodec(secure: false))
            let handler = NodeRequestHandler(
                responder: self.responder,
                logger: logger,
                serverName: self.serverName,
                maxBodyBytes: self.maxBodyBytes
            )
            try channel.pipeline.syncOperations.addHandler(handler)
            return Value(channel: channel, handler: NIOLoopBound(handler, eventLoop: channel.eventLoop))
        }
    }

    public func handle(value: Value, logger: Logger) async {
        await withTaskCancellationHandler {
            try? await value.channel.closeFuture.get()
        } onCancel: {
            // The server is torn down without a graceful shutdown: stop what runs and close.
            value.channel.eventLoop.execute {
                value.handler.value.cancelInFlight()
                value.channel.close(promise: nil)
            }
        }
    }
}

extension HTTPServerBuilder {
    /// The node's HTTP/1.1 server (``NodeHTTP1Channel``) around `responder`; Hummingbird's own
    /// responder closure is not used.
    public static func node<Responder: HTTPResponder>(
        responder: Responder,
        serverName: String?,
        maxBodyBytes: Int
    ) -> HTTPServerBuilder where Responder.Context: InitializableFromSource<ApplicationRequestContextSource> {
        HTTPServerBuilder { _ in
            NodeHTTP1Channel(responder: responder, serverName: serverName, maxBodyBytes: maxBodyBytes)
        }
    }
}

/// Collects one request at a time (the pipelining handler holds back the next until the answer
/// is written) and answers it from a task.
final class NodeRequestHandler<Responder: HTTPResponder>: ChannelInboundHandler, RemovableChannelHandler
where Responder.Context: InitializableFromSource<ApplicationRequestContextSource> {
    typealias InboundIn = HTTPRequestPart
    typealias OutboundOut = HTTPResponsePart

    let responder: Responder
    let logger: Logger
    let serverName: String?
    let maxBodyBytes: Int

    private var head: HTTPRequest?
    private var body: ByteBuffer?
    private var bodyCut = false
    private var inFlight: Task<Void, Never>?

    init(responder: Responder, logger: Logger, serverName: String?, maxBodyBytes: Int) {
        self.responder = responder
        self.logger = logger
        self.serverName = serverName
        self.maxBodyBytes = maxBodyBytes
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            self.body = nil
            self.bodyCut = false
            if head.headerFields[.expect]?.lowercased() == "100-continue" {
                context.writeAndFlush(Self.wrapOutboundOut(.head(HTTPResponse(status: .continue))), promise: nil)
            }
        case .body(var part):
            guard !self.bodyCut else { return }
            if self.body == nil {
                self.body = part
            } else {
                self.body!.writeBuffer(&part)
            }
            if self.body!.readableBytes > self.maxBodyBytes {
                self.body = self.body!.getSlice(at: self.body!.readerIndex, length: self.maxBodyBytes + 1)
                self.bodyCut = true
            }
        case .end:
            guard let head = self.head else { return }
            self.head = nil
            let request = Request(head: head, body: RequestBody(buffer: self.body ?? ByteBuffer()))
            self.body = nil
            self.respond(to: request, channel: context.channel, closeAfter: head.headerFields[.connection]?.lowercased() == "close")
        }
    }

    private func respond(to request: Request, channel: any Channel, closeAfter: Bool) {
        let responder = self.responder
        var logger = self.logger
        logger[metadataKey: "hb.request.id"] = .stringConvertible(RequestID())
        let serverName = self.serverName
        self.inFlight = Task {
            let context = Responder.Context(source: ApplicationRequestContextSource(channel: channel, logger: logger))
            var response: Response
            do {
                response = try await responder.respond(to: request, context: context)
            } catch {
                logger.debug("unrecognised error", metadata: ["error.type": "\(error)"])
                response = Response(status: .internalServerError, body: .init())
            }
            response.headers[.date] = HTTPDate.now()
            if let serverName { response.headers[.server] = serverName }
            if closeAfter { response.headers[.connection] = "close" }
            let writer = ChannelBodyWriter(channel: channel, flushEachWrite: response.body.contentLength == nil, closeAfter: closeAfter)
            channel.write(HTTPResponsePart.head(response.head), promise: nil)
            do {
                try await response.body.write(writer)
            } catch {
                logger.trace("writing the response failed", metadata: ["error": "\(error)"])
                channel.close(promise: nil)
            }
        }
    }

    /// A request NIO could not parse (after its error handler answered 400), or a socket error:
    /// nothing more can be read on this connection.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func cancelInFlight() {
        self.inFlight?.cancel()
    }
}

/// Writes a response body to the channel: a body of known length is flushed once, at its end;
/// a stream each time it writes, waiting while the channel is not writable (backpressure).
/// Nothing waits for a write to reach the socket otherwise: a failed write means the client has
/// gone, and the next stream write sees the closed channel.
struct ChannelBodyWriter: ResponseBodyWriter {
    let channel: any Channel
    let flushEachWrite: Bool
    /// The request asked for `Connection: close`: close once the end is written.
    let closeAfter: Bool

    struct Closed: Error {}

    mutating func write(_ buffer: ByteBuffer) async throws {
        guard self.flushEachWrite else {
            self.channel.write(HTTPResponsePart.body(buffer), promise: nil)
            return
        }
        guard self.channel.isActive else { throw Closed() }
        guard !self.channel.isWritable else {
            self.channel.writeAndFlush(HTTPResponsePart.body(buffer), promise: nil)
            return
        }
        let written = self.channel.eventLoop.makePromise(of: Void.self)
        self.channel.writeAndFlush(HTTPResponsePart.body(buffer), promise: written)
        try await written.futureResult.get()
    }

    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {
        guard self.closeAfter else {
            self.channel.writeAndFlush(HTTPResponsePart.end(trailingHeaders), promise: nil)
            return
        }
        let channel = self.channel
        let written = channel.eventLoop.makePromise(of: Void.self)
        channel.writeAndFlush(HTTPResponsePart.end(trailingHeaders), promise: written)
        written.futureResult.whenComplete { _ in channel.close(promise: nil) }
    }
}

/// The `Date` header's value, formatted once per second.
enum HTTPDate {
    private static let cache = Mutex<(second: Int, text: String)>((-1, ""))

    static func now() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let second = now.tv_sec
        return Self.cache.withLock { cache in
            if cache.second != second {
                cache = (second, Self.format(second))
            }
            return cache.text
        }
    }

    static func format(_ second: Int) -> String {
        var time = time_t(second)
        var parts = tm()
        gmtime_r(&time, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(1900 + parts.tm_year) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }
}
