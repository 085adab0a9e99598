import AsyncHTTPClient
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import SwitchyardTesting
import Testing

/// The node's own HTTP/1.1 server channel (NodeHTTP1Channel), at the byte level where the
/// other suites' HTTP client would hide it.
@Suite struct NodeHTTPServerTests {
    @Test func pipelinedRequestsAreAnsweredInOrderAndCloseIsHonoured() async throws {
        try await Fixture.with { fixture in
            let key = try await fixture.seed()
            try await fixture.route("chat", "good")
            let node = try await fixture.node()
            #expect(await fixture.waitForRoute(node, key: key, alias: "chat"))
            let chat = chatBody(model: "chat", message: "first")
            // Three requests in one write; the last asks to close, so the exchange ends there.
            let text = try await RawHTTP.exchange(
                port: node.port,
                "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(key)\r\n"
                    + "Content-Type: application/json\r\nContent-Length: \(chat.utf8.count)\r\n\r\n\(chat)"
                    + "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                    + "GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            )
            let answers = text.components(separatedBy: "HTTP/1.1 ").dropFirst()
            #expect(answers.count == 3, "\(text)")
            let ordered = Array(answers)
            #expect(ordered.first?.contains("mock reply to: first") == true)
            #expect(ordered.dropFirst().first?.hasSuffix("\r\n\r\nok") == true)
            #expect(ordered.last?.contains("ready version=") == true)
            #expect(ordered.last?.lowercased().contains("connection: close") == true)
            for answer in ordered {
                #expect(answer.hasPrefix("200 "))
                #expect(answer.lowercased().contains("\r\ndate: "), "no Date header: \(answer)")
                #expect(answer.lowercased().contains("\r\nserver: switchyard-node"))
            }
            await node.stop()
        }
    }

    @Test func expectContinueGetsAContinueThenTheAnswer() async throws {
        try await Fixture.with { fixture in
            let key = try await fixture.seed()
            try await fixture.route("chat", "good")
            let node = try await fixture.node()
            #expect(await fixture.waitForRoute(node, key: key, alias: "chat"))
            let chat = chatBody(model: "chat", message: "continued")
            let text = try await RawHTTP.exchange(
                port: node.port,
                "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(key)\r\nExpect: 100-continue\r\n"
                    + "Connection: close\r\nContent-Type: application/json\r\nContent-Length: \(chat.utf8.count)\r\n\r\n\(chat)"
            )
            #expect(text.hasPrefix("HTTP/1.1 100 Continue\r\n"), "\(text)")
            #expect(text.contains("HTTP/1.1 200 OK"))
            #expect(text.contains("mock reply to: continued"))
            await node.stop()
        }
    }

    @Test func unparseableRequestsGetA400AndTheConnectionCloses() async throws {
        try await Fixture.with { fixture in
            let node = try await fixture.node()
            let text = try await RawHTTP.exchange(port: node.port, "NOT HTTP AT ALL\r\n\r\n")
            #expect(text.hasPrefix("HTTP/1.1 400"), "\(text)")
            // The node still serves others.
            let health = try await callNode(fixture.http, node.url, key: nil, body: "", method: .GET, path: "/healthz")
            #expect(health.status == 200)
            await node.stop()
        }
    }

    /// A graceful stop lets a stream in progress finish, then the node stops.
    @Test func aGracefulStopFinishesTheStreamInProgress() async throws {
        try await Fixture.with { fixture in
            let key = try await fixture.seed()
            try await fixture.route("slow", "slow")
            let node = try await fixture.node()
            #expect(await fixture.waitForRoute(node, key: key, alias: "slow", timeout: .seconds(5)))
            var request = HTTPClientRequest(url: node.url + "/v1/chat/completions")
            request.method = .POST
            request.headers.add(name: "authorization", value: "Bearer \(key)")
            request.body = .bytes(ByteBuffer(string: chatBody(model: "slow", message: "one two three", stream: true)))
            let response = try await fixture.http.execute(request, timeout: .seconds(30))
            #expect(response.status == .ok)
            var text = ""
            var stopping: Task<Void, Never>?
            for try await chunk in response.body {
                text += String(buffer: chunk)
                // Stop as soon as the first content arrived (about 1.5 s of stream left).
                if stopping == nil, text.contains(#""content":"mock""#) { stopping = Task { await node.stop() } }
            }
            #expect(stopping != nil)
            #expect(text.hasSuffix("data: [DONE]\n\n"), "the stream was cut: \(text.suffix(200))")
            await stopping?.value
            // Stopped: new connections are refused.
            let after = try? await callNode(fixture.http, node.url, key: nil, body: "", method: .GET, path: "/healthz")
            #expect(after == nil)
        }
    }
}

enum RawHTTP {
    struct NotClosed: Error, CustomStringConvertible {
        var received: String
        var description: String { "the server did not close the connection; it sent: \(self.received)" }
    }

    /// Writes raw bytes on a new connection and returns all the server sent until it closed
    /// (throws when it did not close within `timeout`).
    static func exchange(port: Int, _ request: String, timeout: TimeAmount = .seconds(10)) async throws -> String {
        let collected = NIOLockedValueBox(ByteBuffer())
        let channel: any Channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Collector(into: collected)) }
            }
            .connect(host: "127.0.0.1", port: port)
            .get()
        try await channel.writeAndFlush(ByteBuffer(string: request)).get()
        let timedOut = NIOLockedValueBox(false)
        let timer = channel.eventLoop.scheduleTask(in: timeout) {
            timedOut.withLockedValue { $0 = true }
            channel.close(promise: nil)
        }
        try await channel.closeFuture.get()
        timer.cancel()
        let text = String(buffer: collected.withLockedValue { $0 })
        if timedOut.withLockedValue({ $0 }) { throw NotClosed(received: text) }
        return text
    }

    final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let into: NIOLockedValueBox<ByteBuffer>

        init(into: NIOLockedValueBox<ByteBuffer>) { self.into = into }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var part = Self.unwrapInboundIn(data)
            self.into.withLockedValue { _ = $0.writeBuffer(&part) }
        }
    }
}
