import AsyncHTTPClient
import Foundation
import NIOHTTP1
import SwitchyardCLI
import SwitchyardCore
import SwitchyardTesting
import Testing

/// Wire formats across the node: Anthropic clients, Anthropic and Gemini providers, embeddings,
/// and fallbacks that cross formats.
@Suite(.serialized) struct FormatTests {
    static func messagesBody(_ alias: String, stream: Bool = false, text: String = "hello") -> String {
        #"{"model":"\#(alias)","max_tokens":64,"stream":\#(stream),"messages":[{"role":"user","content":"\#(text)"}]}"#
    }

    @Test func fallbackCrossesProvidersAndFormats() async throws {
        try await Fixture.with { fixture in
            let key = try await fixture.seed()
            // An Anthropic-format target failing with 500 falls back to a Gemini-format one.
            try await fixture.route("chat", "claude500", fallbacks: ["gemini"])
            let node = try await fixture.node()
            #expect(await fixture.waitForRoute(node, key: key, alias: "chat", timeout: .seconds(5)))
            let plain = try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "chat", message: "cross over"))
            #expect(plain.status == 200)
            #expect(plain.headers["x-switchyard-provider"] == "mock-gemini")
            #expect(plain.headers["x-switchyard-fallback-reasons"] == "claude500:status_500")
            #expect(plain.json["choices"]?[0]?["message"]?["content"] == "mock reply to: cross over")
            #expect(plain.json["object"] == "chat.completion")

            let streamed = try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "chat", message: "cross over", stream: true))
            #expect(streamed.status == 200)
            #expect(streamed.headers["x-switchyard-provider"] == "mock-gemini")
            #expect(streamed.body.hasSuffix("data: [DONE]\n\n"))
            let text = streamed.body.split(separator: "\n").compactMap { line -> String? in
                guard line.hasPrefix("data: {"), let json = try? JSONValue(parsing: line.dropFirst(6).utf8) else { return nil }
                return json["choices"]?[0]?["delta"]?["content"]?.stringValue
            }.joined()
            #expect(text == "mock reply to: cross over")
            await node.stop()
        }
    }

    @Test func anthropicClientsGetAnthropicErrorsAndStreams() async throws {
        try await Fixture.with(tokenLatencyMs: 2) { fixture in
            let key = try await fixture.seed()
            try await fixture.route("chat", "good")
            try await fixture.route("refusing", "bad400")
            try await fixture.route("cutting", "cut", firstTokenMs: 2_000, totalMs: 5_000)
            let node = try await fixture.node()
            #expect(await fixture.waitForRoute(node, key: key, alias: "chat"))
            let headers = ["x-api-key": key, "anthropic-version": "2023-06-01"]

            let answer = try await callNode(fixture.http, node.url, key: nil, body: Self.messagesBody("chat"), path: "/v1/messages", headers: headers)
            #expect(answer.status == 200)
            #expect(answer.json["type"] == "message")
            #expect(answer.json["model"] == "chat")
            #expect(answer.json["content"]?[0]?["text"] == "mock reply to: hello")

            // The upstream's 400 comes back as an Anthropic error, with the provider's message.
            let refused = try await callNode(
                fixture.http,
                node.url,
                key: nil,
                body: Self.messagesBody("refusing"),
                path: "/v1/messages",
                headers: headers
            )
            #expect(refused.status == 400)
            #expect(refused.json["type"] == "error")
            #expect(refused.json["error"]?["type"] == "invalid_request_error")
            #expect(refused.json["error"]?["message"]?.stringValue?.contains("mock: injected bad request") == true)

            let missing = try await callNode(
                fixture.http,
                node.url,
                key: nil,
                body: #"{"model":"chat","messages":[{"role":"user","content":"x"}]}"#,
                path: "/v1/messages",
                headers: headers
            )
            #expect(missing.status == 400)
            #expect(missing.json["error"]?["type"] == "invalid_request_error")

            // A stream cut after bytes reached the client ends with an Anthropic error event.
            let cut = try await callNode(
                fixture.http,
                node.url,
                key: nil,
                body: Self.messagesBody("cutting", stream: true),
                path: "/v1/messages",
                headers: headers
            )
            #expect(cut.status == 200)
            #expect(cut.body.hasPrefix("event: message_start"))
            #expect(cut.body.contains("event: error"))
            #expect(!cut.body.contains("event: message_stop"))
            await node.stop()
        }
    }

    @Test func embeddingsRouteToOpenAIAndGeminiAndSkipAnthropic() async throws {
        try await Fixture.with { fixture in
            let key = try await fixture.seed()
            try await fixture.route("vectors", "embed")
            try await fixture.route("gvectors", "gemini-embed")
            try await fixture.route("fallback-vectors", "claude", fallbacks: ["embed"])
            let node = try await fixture.node()
            let body = #"{"model":"vectors","input":["alpha","beta"]}"#
            #expect(
                await eventually(timeout: .seconds(5)) {
                    try await callNode(fixture.http, node.url, key: key, body: body, path: "/v1/embeddings").status == 200
                }
            )
            let openai = try await callNode(fixture.http, node.url, key: key, body: body, path: "/v1/embeddings")
            #expect(openai.json["data"]?.arrayValue?.count == 2)
            #expect(openai.headers["x-switchyard-route"] == "vectors")
            let gemini = try await callNode(
                fixture.http,
                node.url,
                key: key,
                body: #"{"model":"gvectors","input":["alpha","beta"]}"#,
                path: "/v1/embeddings"
            )
            #expect(gemini.status == 200)
            #expect(gemini.json["object"] == "list")
            // The mock derives vectors from the text alone: the same in both formats.
            #expect(gemini.json["data"]?[1]?["embedding"] == openai.json["data"]?[1]?["embedding"])
            #expect(gemini.json["data"]?[1]?["index"] == 1)

            let fallback = try await callNode(
                fixture.http,
                node.url,
                key: key,
                body: #"{"model":"fallback-vectors","input":"alpha"}"#,
                path: "/v1/embeddings"
            )
            #expect(fallback.status == 200)
            #expect(fallback.headers["x-switchyard-fallback-reasons"] == "claude:unsupported")
            #expect(fallback.headers["x-switchyard-model"] == "embed")

            let bad = try await callNode(fixture.http, node.url, key: key, body: #"{"model":"vectors","input":[]}"#, path: "/v1/embeddings")
            #expect(bad.status == 400)
            #expect(bad.json["error"]?["param"] == "input")
            await node.stop()
        }
    }
}
