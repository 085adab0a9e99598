import AsyncHTTPClient
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import SwitchyardCore
import SwitchyardTesting
import Testing

@testable import SwitchyardProviders

/// The node's client for complete answers from plain-HTTP upstreams, against the mock provider.
/// (Every non-streaming call of the other integration tests goes through it too.)
@Suite struct PlainHTTPClientTests {
    static func chat(_ model: String) -> ByteBuffer {
        ByteBuffer(string: #"{"model":"\#(model)","messages":[{"role":"user","content":"hello there"}]}"#)
    }

    static let headers: HTTPHeaders = ["content-type": "application/json", "authorization": "Bearer mock-key"]

    static func post(
        _ client: PlainHTTP1Client,
        _ url: String,
        model: String,
        limit: Int = 1 << 20,
        within: TimeAmount = .seconds(5)
    ) async throws -> HTTPClientResponse {
        let (host, port, target) = try #require(PlainHTTP1Client.split(url + "/v1/chat/completions"))
        return try await client.post(
            host: host,
            port: port,
            target: target,
            headers: Self.headers,
            body: Self.chat(model),
            limit: limit,
            deadline: .now() + within
        )
    }

    @Test func answersAreWholeAndOneConnectionCarriesThemAll() async throws {
        let mock = try await TestServers.mockProvider()
        let client = PlainHTTP1Client()
        defer { client.shutdown() }
        for _ in 0..<3 {
            let response = try await Self.post(client, mock.url, model: "small")
            #expect(response.status == HTTPResponseStatus.ok)
            let json = try JSONValue(parsing: try await response.body.collect(upTo: 1 << 20).readableBytesView)
            #expect(json["object"]?.stringValue == "chat.completion")
            #expect(json["model"]?.stringValue == "small")
        }
        #expect(client.idleConnectionCount == 1)
        // Errors are answers too, and keep the connection.
        let refused = try await Self.post(client, mock.url, model: "fault-400:small")
        #expect(refused.status == HTTPResponseStatus.badRequest)
        #expect(client.idleConnectionCount == 1)
        await mock.stop()
    }

    @Test func aHungUpstreamEndsAtTheDeadlineAndItsConnectionIsDropped() async throws {
        let mock = try await TestServers.mockProvider()
        let client = PlainHTTP1Client()
        defer { client.shutdown() }
        let start = ContinuousClock.now
        await #expect(throws: HTTPClientError.deadlineExceeded) {
            _ = try await Self.post(client, mock.url, model: "fault-hang:small", within: .milliseconds(300))
        }
        #expect(start.duration(to: .now) < .seconds(3))
        #expect(client.idleConnectionCount == 0)
        // The next request opens a new connection and is answered.
        #expect(try await Self.post(client, mock.url, model: "small").status == HTTPResponseStatus.ok)
        await mock.stop()
    }

    @Test func anAnswerOverTheLimitIsRefusedAndItsConnectionClosed() async throws {
        let mock = try await TestServers.mockProvider()
        let client = PlainHTTP1Client()
        defer { client.shutdown() }
        let response = try await Self.post(client, mock.url, model: "small", limit: 40)
        await #expect(throws: NIOTooManyBytesError.self) { _ = try await response.body.collect(upTo: 40) }
        #expect(client.idleConnectionCount == 0)
        await mock.stop()
    }

    @Test func resetAndRefusedConnectionsAreTransportFailures() async throws {
        let mock = try await TestServers.mockProvider()
        let client = PlainHTTP1Client()
        defer { client.shutdown() }
        do {
            _ = try await Self.post(client, mock.url, model: "fault-reset:small")
            Issue.record("a reset connection answered")
        } catch {
            let failure = ProviderAdapter.classify(error)
            #expect(failure.allowsFallback, "\(failure)")
        }
        await mock.stop()
        do {
            // Port 1: nothing listens there. (The stopped mock's port can be bound again at once
            // by another suite's server running in parallel.)
            _ = try await Self.post(client, "http://127.0.0.1:1", model: "small")
            Issue.record("a closed port answered")
        } catch {
            guard case .connect = ProviderAdapter.classify(error) else {
                Issue.record("refused connection classified as \(ProviderAdapter.classify(error))")
                return
            }
        }
    }

    @Test func aConnectionTheServerClosedAfterAnsweringIsNotReusedAndNoRequestFails() async throws {
        // A server that says keep-alive but closes each connection right after its answer, as
        // an upstream's idle timeout does: the pooled connection is dead when the next request
        // takes it (or dies as the request goes out); either way the request succeeds.
        // (This test once hung a request in one full-suite run in three: a PostgreSQL server
        // started by another suite had inherited the server's accepted socket, so its close sent
        // no FIN. Children no longer inherit descriptors: SubprocessTests.)
        let connections = NIOLockedValueBox(0)
        // Server and client on one loop of their own, as in a node (one loop per core), and
        // apart from the loops the other suites load.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                connections.withLockedValue { $0 += 1 }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(AnswerThenClose())
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        let port = try #require(server.localAddress?.port)
        let client = PlainHTTP1Client(group: group)
        /// One request; nil (with the failure recorded) when it failed.
        func request(_ attempt: Int) async -> HTTPClientResponse? {
            do {
                // A deadline well past the scheduling delays of a loaded suite; a hung exchange still fails.
                return try await Self.post(client, "http://127.0.0.1:\(port)", model: "small", within: .seconds(30))
            } catch {
                Issue.record("request \(attempt) failed after \(connections.withLockedValue { $0 }) connections: \(error)")
                return nil
            }
        }
        for attempt in 1...5 {
            guard let response = await request(attempt) else { return }
            #expect(response.status == HTTPResponseStatus.ok)
            #expect(String(buffer: try await response.body.collect(upTo: 1024)) == #"{"ok":true}"#)
        }
        #expect(connections.withLockedValue { $0 } == 5)
        try await server.close()
        client.shutdown()
        try await group.shutdownGracefully()
    }

    @Test(arguments: [
        ("http://127.0.0.1:8000/v1/chat/completions", "127.0.0.1", 8000, "/v1/chat/completions"),
        ("http://vllm/v1/chat/completions", "vllm", 80, "/v1/chat/completions"),
        ("http://[::1]:11434/api?x=1", "::1", 11434, "/api?x=1"),
        ("http://host", "host", 80, "/"),
    ])
    func plainURLsSplit(url: String, host: String, port: Int, target: String) throws {
        let parts = try #require(PlainHTTP1Client.split(url))
        #expect(parts.host == host)
        #expect(parts.port == port)
        #expect(parts.target == target)
    }

    @Test(arguments: ["https://api.openai.com/v1", "http://user@host/v1", "http://host:0/", "http://host:99999/", "http:///x", "ftp://h/"])
    func otherURLsAreNotPlain(url: String) {
        #expect(PlainHTTP1Client.split(url) == nil)
    }
}

/// Answers every request with a keep-alive `200` and closes the connection right after.
private final class AnswerThenClose: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .end = Self.unwrapInboundIn(data) else { return }
        let body = ByteBuffer(string: #"{"ok":true}"#)
        let head = HTTPResponseHead(
            version: .http1_1,
            status: .ok,
            headers: ["content-type": "application/json", "content-length": String(body.readableBytes), "connection": "keep-alive"]
        )
        context.write(Self.wrapOutboundOut(.head(head)), promise: nil)
        context.write(Self.wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        context.writeAndFlush(Self.wrapOutboundOut(.end(nil)), promise: nil)
        context.close(promise: nil)
    }
}
