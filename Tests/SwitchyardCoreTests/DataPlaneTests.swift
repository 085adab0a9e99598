import Foundation
import Testing

@testable import SwitchyardCore

struct ChatRequestTests {
    func parse(_ text: String) throws -> ChatRequest {
        try ChatRequest(json: try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)))
    }

    @Test func readsModelStreamAndUsageFlag() throws {
        let request = try parse(
            #"{"model":"chat","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true},"temperature":0.2}"#
        )
        #expect(request.model == "chat")
        #expect(request.stream)
        #expect(request.includeUsage)
    }

    @Test func upstreamBodyRewritesModelAndAlwaysAsksForUsageWhenStreaming() throws {
        let request = try parse(#"{"model":"chat","messages":[{"role":"user","content":"hi"}],"stream":true,"seed":12345678901}"#)
        let body = request.upstreamBody(upstreamModel: "gpt-4o-mini")
        #expect(body["model"] == "gpt-4o-mini")
        #expect(body["stream_options"]?["include_usage"] == true)
        #expect(body["seed"] == .int(12_345_678_901))
        #expect(body["messages"] == request.body["messages"])
        #expect(!request.includeUsage)
    }

    @Test func nonStreamingBodyGetsNoStreamOptions() throws {
        let body = try parse(#"{"model":"chat","messages":[{"role":"user","content":"hi"}]}"#).upstreamBody(upstreamModel: "u")
        #expect(body["stream_options"] == nil)
    }

    @Test(arguments: [
        (#"[1,2]"#, nil as String?),
        (#"{"messages":[{"role":"user","content":"x"}]}"#, "model"),
        (#"{"model":5,"messages":[]}"#, "model"),
        (#"{"model":"m"}"#, "messages"),
        (#"{"model":"m","messages":{}}"#, "messages"),
        (#"{"model":"m","messages":[]}"#, "messages"),
        (#"{"model":"m","messages":[{}],"stream":"yes"}"#, "stream"),
        (#"{"model":"m","messages":[{}],"stream_options":{"include_usage":true}}"#, "stream_options"),
        (#"{"model":"m","messages":[{}],"stream":true,"stream_options":{"include_usage":1}}"#, "stream_options.include_usage"),
    ])
    func badBodiesNameTheParameter(body: String, param: String?) throws {
        do {
            _ = try parse(body)
            Issue.record("expected an error for \(body)")
        } catch let error as APIError {
            #expect(error.status == 400)
            #expect(error.type == "invalid_request_error")
            #expect(error.param == param)
        }
    }

    @Test func errorJSONHasOpenAIShape() throws {
        let json = APIError.unknownModel("x").json
        #expect(json["error"]?["code"] == "model_not_found")
        #expect(json["error"]?["type"] == "invalid_request_error")
        #expect(json["error"]?["param"] == "model")
        #expect(json["error"]?["message"]?.stringValue?.contains("'x'") == true)
    }

    @Test func usageOnlyChunkIsRecognised() throws {
        let usage = try JSONDecoder().decode(JSONValue.self, from: Data(#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4}}"#.utf8))
        #expect(usage.isUsageOnlyChunk)
        #expect(Usage(completion: usage) == Usage(promptTokens: 3, completionTokens: 4))
        let content = try JSONDecoder().decode(JSONValue.self, from: Data(#"{"choices":[{"delta":{}}],"usage":null}"#.utf8))
        #expect(!content.isUsageOnlyChunk)
        #expect(Usage(completion: content) == nil)
    }
}

struct JSONValueTests {
    @Test func roundTripsAllKinds() throws {
        let text = #"{"a":null,"b":true,"c":-42,"d":1.5,"e":"s\"x","f":[1,"2",false],"g":{"h":{}}}"#
        let value = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
        let again = try JSONDecoder().decode(JSONValue.self, from: try JSONEncoder().encode(value))
        #expect(value == again)
        #expect(value["c"] == .int(-42))
        #expect(value["d"] == .double(1.5))
        #expect(value["b"] == .bool(true))
        #expect(value["a"]?.isNull == true)
    }
}

struct SSETests {
    @Test func splitsEventsAcrossArbitraryChunking() {
        let stream = "data: {\"a\":1}\n\n: comment\n\ndata: line1\ndata: line2\n\nevent: done\ndata: [DONE]\n\n"
        let bytes = Array(stream.utf8)
        for size in [1, 2, 3, 7, bytes.count] {
            var splitter = SSEEventSplitter()
            var events: [SSEEvent] = []
            var index = 0
            while index < bytes.count {
                events += splitter.append(bytes[index..<min(index + size, bytes.count)])
                index += size
            }
            #expect(splitter.finish() == nil)
            #expect(events.map(\.data) == ["{\"a\":1}", "", "line1\nline2", "[DONE]"], "chunk size \(size)")
            #expect(events.last?.isDone == true)
            #expect(events.last?.event == "done")
            #expect(events.flatMap(\.raw) == bytes)
        }
    }

    @Test func handlesCRLFAndUnterminatedTail() {
        var splitter = SSEEventSplitter()
        let events = splitter.append(Array("data: x\r\n\r\ndata: tail".utf8))
        #expect(events.map(\.data) == ["x"])
        #expect(splitter.finish()?.data == "tail")
    }
}

struct NamesAndKeysTests {
    @Test func tenantAndObjectNames() {
        #expect(Names.isValidTenant("acme-prod"))
        #expect(!Names.isValidTenant("Acme"))
        #expect(!Names.isValidTenant("-acme"))
        #expect(!Names.isValidTenant(""))
        #expect(Names.isValidObjectName("gpt-4o-mini"))
        #expect(Names.isValidObjectName("claude-3.5:sonnet_v2"))
        #expect(!Names.isValidObjectName("has space"))
        #expect(!Names.isValidObjectName(".hidden"))
        #expect(!Names.isValidObjectName(String(repeating: "a", count: 129)))
    }

    @Test func generatedKeysHaveTheirPrefix() {
        var seen = Set<String>()
        for _ in 0..<50 {
            let (secret, prefix) = APIKeyFormat.generate()
            #expect(APIKeyFormat.prefix(of: secret) == prefix)
            #expect(secret.hasPrefix("sk-sy-"))
            seen.insert(secret)
        }
        #expect(seen.count == 50)
        #expect(APIKeyFormat.prefix(of: "sk-sy-short") == nil)
        #expect(APIKeyFormat.prefix(of: "sk-proj-" + String(repeating: "a", count: 41)) == nil)
    }
}
