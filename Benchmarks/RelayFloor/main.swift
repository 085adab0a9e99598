// The floor of a SwiftNIO HTTP/1.1 relay (issue 7, docs/benchmarks.md): the least a proxy built
// on SwiftNIO does per request — NIO's HTTP/1.1 codec on both legs, one kept-alive upstream
// connection per client connection, every part forwarded as it arrives, no Swift concurrency,
// no routing, auth or metrics. `bench/hot-path.sh` measures it beside nginx and the node, so the
// node's distance to nginx splits into what SwiftNIO costs and what the node adds on top.
//
//   switchyard-relay-floor <listen-port> <upstream-port> <upstream-path>
//
// Every request goes to 127.0.0.1:<upstream-port><upstream-path> with the client's method,
// headers and body. Not a product: no timeouts, no error answers beyond closing the connection.
import NIOCore
import NIOHTTP1
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

// Started in the background by a script, the process inherits SIGINT ignored; the script stops
// everything it started with SIGINT.
_ = signal(SIGINT, SIG_DFL)

let arguments = CommandLine.arguments
guard arguments.count == 4, let listenPort = Int(arguments[1]), let upstreamPort = Int(arguments[2]) else {
    print("usage: switchyard-relay-floor <listen-port> <upstream-port> <upstream-path>")
    exit(2)
}

/// Where requests go.
struct Upstream: Sendable {
    var port: Int
    var path: String
}
let upstream = Upstream(port: upstreamPort, path: arguments[3])

/// The client side of one connection: buffers a request until its end, then relays it over this
/// connection's own upstream connection, opened on first use.
final class RelayHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let target: Upstream
    private var head: HTTPRequestHead?
    private var body: ByteBuffer?
    private var upstream: (any Channel)?
    private var pending: [HTTPClientRequestPart] = []
    private var connecting = false

    init(target: Upstream) { self.target = target }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            self.body = nil
        case .body(var chunk):
            if self.body == nil { self.body = chunk } else { self.body!.writeBuffer(&chunk) }
        case .end:
            guard var head = self.head else { return }
            head.uri = self.target.path
            head.headers.replaceOrAdd(name: "host", value: "127.0.0.1:\(self.target.port)")
            head.headers.replaceOrAdd(name: "connection", value: "keep-alive")
            self.send([.head(head), .body(.byteBuffer(self.body ?? ByteBuffer())), .end(nil)], context: context)
        }
    }

    private func send(_ parts: [HTTPClientRequestPart], context: ChannelHandlerContext) {
        if let upstream = self.upstream {
            for part in parts { upstream.write(part, promise: nil) }
            upstream.flush()
            return
        }
        self.pending += parts
        guard !self.connecting else { return }
        self.connecting = true
        let client = context.channel
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        ClientBootstrap(group: context.eventLoop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(UpstreamHandler(client: client))
                }
            }
            .connect(host: "127.0.0.1", port: self.target.port)
            .whenComplete { result in
                let handler = loopBound.value
                switch result {
                case .success(let channel):
                    handler.upstream = channel
                    for part in handler.pending { channel.write(part, promise: nil) }
                    handler.pending = []
                    channel.flush()
                case .failure:
                    client.close(promise: nil)
                }
            }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.upstream?.close(promise: nil)
        context.fireChannelInactive()
    }
}

/// The upstream side: forwards each response part to the client as it arrives.
final class UpstreamHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart

    let client: any Channel

    init(client: any Channel) { self.client = client }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head(let head):
            self.client.write(HTTPServerResponsePart.head(head), promise: nil)
        case .body(let chunk):
            self.client.write(HTTPServerResponsePart.body(.byteBuffer(chunk)), promise: nil)
        case .end(let trailers):
            self.client.writeAndFlush(HTTPServerResponsePart.end(trailers), promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.client.close(promise: nil)
    }
}

let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
let server = try ServerBootstrap(group: group)
    .serverChannelOption(.backlog, value: 1024)
    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
    .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
            try channel.pipeline.syncOperations.addHandler(RelayHandler(target: upstream))
        }
    }
    .bind(host: "127.0.0.1", port: listenPort)
    .wait()
print("relaying 127.0.0.1:\(listenPort) to 127.0.0.1:\(upstream.port)\(upstream.path)")
try server.closeFuture.wait()
