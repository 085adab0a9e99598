import Foundation
import SwitchyardCore
import SwitchyardProviders
import Testing

/// Golden files in `Golden/` next to this file, and small helpers to feed the translator.
enum GeminiFixtures {
    static let model = "gemini-flash"
    static let id = "chatcmpl-test"
    static let created: Int64 = 1_700_000_000

    static func bytes(_ name: String) throws -> [UInt8] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden/\(name)")
        return Array(try Data(contentsOf: url))
    }

    static func json(_ name: String) throws -> JSONValue {
        try JSONValue(parsing: try Self.bytes(name))
    }

    static func parse(_ text: String) throws -> JSONValue {
        try JSONValue(parsing: Array(text.utf8))
    }

    static func chat(_ text: String) throws -> [String: JSONValue] {
        try #require(try Self.parse(text).objectValue)
    }

    /// The events of an SSE byte stream, as the node's relay splits them.
    static func events(_ bytes: [UInt8]) -> [SSEEvent] {
        var splitter = SSEEventSplitter()
        var events = splitter.append(bytes)
        if let last = splitter.finish() {
            events.append(last)
        }
        return events
    }

    static func event(_ json: JSONValue) -> SSEEvent {
        let text = "data: " + String(decoding: json.serialized(), as: UTF8.self) + "\n\n"
        return Self.events(Array(text.utf8))[0]
    }

    static func decoder() -> GeminiOutbound.StreamDecoder {
        GeminiOutbound.StreamDecoder(model: Self.model, id: Self.id, created: Self.created)
    }

    /// Every chunk for `events`, then whatever `finish()` adds.
    static func decode(_ events: [SSEEvent], with decoder: inout GeminiOutbound.StreamDecoder) throws -> [JSONValue] {
        var chunks: [JSONValue] = []
        for event in events {
            let next = try decoder.decode(event)
            chunks += next
        }
        chunks += decoder.finish()
        return chunks
    }
}

struct GeminiRequestTests {
    @Test func translatesSystemImagesToolsToolChoiceAndAToolRoundTrip() throws {
        let chat = try #require(try GeminiFixtures.json("gemini-request-chat.json").objectValue)
        let body = try GeminiOutbound.request(chat: chat)
        let expected = try GeminiFixtures.json("gemini-request-generate.json")
        #expect(body == expected)
    }

    @Test func pathsNameTheModelAndTheMethod() {
        #expect(GeminiOutbound.path(upstreamModel: "gemini-2.5-flash", stream: false) == "/models/gemini-2.5-flash:generateContent")
        #expect(
            GeminiOutbound.path(upstreamModel: "models/gemini-2.5-flash", stream: true)
                == "/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
        )
        #expect(GeminiOutbound.embeddingsPath(upstreamModel: "gemini-embedding-001") == "/models/gemini-embedding-001:batchEmbedContents")
    }

    @Test(arguments: [("auto", "AUTO"), ("none", "NONE"), ("required", "ANY")])
    func toolChoiceModes(choice: String, mode: String) throws {
        let chat = try GeminiFixtures.chat(
            #"{"messages":[{"role":"user","content":"hi"}],"tool_choice":"\#(choice)","#
                + #""tools":[{"type":"function","function":{"name":"f"}}]}"#
        )
        let body = try GeminiOutbound.request(chat: chat)
        let toolConfig: JSONValue = ["functionCallingConfig": ["mode": .string(mode)]]
        let tools: JSONValue = [["functionDeclarations": [["name": "f"]]]]
        #expect(body["toolConfig"] == toolConfig)
        #expect(body["tools"] == tools)
    }

    @Test func toolChoiceWithoutToolsIsDroppedWhenItAsksForNothing() throws {
        let chat = try GeminiFixtures.chat(#"{"messages":[{"role":"user","content":"hi"}],"tool_choice":"none"}"#)
        let body = try GeminiOutbound.request(chat: chat)
        let expected: JSONValue = ["contents": [["role": "user", "parts": [["text": "hi"]]]]]
        #expect(body == expected)
    }

    @Test func jsonObjectAndJSONSchemaResponseFormats() throws {
        let object = try GeminiOutbound.request(
            chat: try GeminiFixtures.chat(#"{"messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_object"}}"#)
        )
        let jsonMode: JSONValue = ["responseMimeType": "application/json"]
        #expect(object["generationConfig"] == jsonMode)

        let schemaText = #"{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"],"additionalProperties":false}"#
        let schema = try GeminiFixtures.parse(schemaText)
        let chat = try GeminiFixtures.chat(
            #"{"messages":[{"role":"user","content":"hi"}],"max_tokens":64,"#
                + #""response_format":{"type":"json_schema","json_schema":{"name":"r","strict":true,"schema":\#(schemaText)}}}"#
        )
        let body = try GeminiOutbound.request(chat: chat)
        let expected: JSONValue = ["responseMimeType": "application/json", "responseJsonSchema": schema, "maxOutputTokens": 64]
        #expect(body["generationConfig"] == expected)
    }

    @Test func toolResultsThatAreNotJSONObjectsAreWrapped() throws {
        let chat = try GeminiFixtures.chat(
            #"{"messages":[{"role":"user","content":"hi"},"#
                + #"{"role":"assistant","content":null,"tool_calls":[{"id":"x","type":"function","function":{"name":"list","arguments":""}}]},"#
                + #"{"role":"tool","tool_call_id":"x","content":"[1,2]"}]}"#
        )
        let body = try GeminiOutbound.request(chat: chat)
        let call: JSONValue = ["role": "model", "parts": [["functionCall": ["name": "list", "args": [:]]]]]
        let result: JSONValue = ["role": "user", "parts": [["functionResponse": ["name": "list", "response": ["content": "[1,2]"]]]]]
        #expect(body["contents"]?[1] == call)
        #expect(body["contents"]?[2] == result)
    }

    /// Requests Gemini cannot take, and the parameter each error must name.
    static let badRequests: [(String, String)] = [
        (
            #"{"messages":[{"role":"user","content":"hi"},"#
                + #"{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},"#
                + #"{"role":"assistant","tool_calls":[{"id":"c2","type":"function","function":{"name":"f","arguments":"{\"city\": "}}]}]}"#,
            "messages[2].tool_calls[0].function.arguments"
        ),
        (
            #"{"messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"[1]"}}]}]}"#,
            "messages[0].tool_calls[0].function.arguments"
        ),
        (#"{"messages":[{"role":"user","content":"hi"},{"role":"tool","tool_call_id":"nope","content":"x"}]}"#, "messages[1].tool_call_id"),
        (#"{"messages":[{"role":"user","content":"hi"}],"n":2}"#, "n"),
        (
            #"{"messages":[{"role":"user","content":[{"type":"text","text":"x"},{"type":"image_url","image_url":{"url":"ftp://h/a.png"}}]}]}"#,
            "messages[0].content[1].image_url.url"
        ),
        (
            #"{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png,abc"}}]}]}"#,
            "messages[0].content[0].image_url.url"
        ),
        (#"{"messages":[{"role":"user","content":[{"type":"video","video":{}}]}]}"#, "messages[0].content[0].type"),
        (#"{"messages":[{"role":"user","content":[{"type":"file","file":{"file_id":"file-1"}}]}]}"#, "messages[0].content[0].file.file_data"),
        (#"{"messages":[{"role":"system","content":[{"type":"image_url","image_url":{"url":"https://h/a.png"}}]}]}"#, "messages[0].content[0].type"),
        (#"{"messages":[{"role":"function","name":"f","content":"x"}]}"#, "messages[0].role"),
        (#"{"messages":[{"role":"system","content":"only instructions"}]}"#, "messages"),
        (#"{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"web_search"}]}"#, "tools[0].type"),
        (
            #"{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"sometimes"}"#,
            "tool_choice"
        ),
        (
            #"{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f"}}],"#
                + #""tool_choice":{"type":"function","function":{"name":"g"}}}"#,
            "tool_choice.function.name"
        ),
        (#"{"messages":[{"role":"user","content":"hi"}],"tool_choice":"required"}"#, "tool_choice"),
        (
            #"{"messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_schema","json_schema":{"name":"x"}}}"#,
            "response_format.json_schema.schema"
        ),
        (#"{"messages":[{"role":"user","content":"hi"}],"stop":["a",1]}"#, "stop[1]"),
        (#"{"messages":[{"role":"user","content":"hi"}],"temperature":"hot"}"#, "temperature"),
        (#"{"messages":[{"role":"user","content":"hi"}],"functions":[{"name":"f"}]}"#, "functions"),
        (#"{"messages":[{"role":"user","content":"hi"}],"logprobs":true}"#, "logprobs"),
    ]

    @Test(arguments: GeminiRequestTests.badRequests)
    func badRequestsNameTheParameter(body: String, param: String) throws {
        let chat = try GeminiFixtures.chat(body)
        let error = #expect(throws: TranslationError.self) {
            try GeminiOutbound.request(chat: chat)
        }
        #expect(error?.param == param)
    }
}

struct GeminiResponseTests {
    @Test func textResponse() throws {
        let completion = try GeminiOutbound.response(
            try GeminiFixtures.json("gemini-response-text.json"),
            model: GeminiFixtures.model,
            id: GeminiFixtures.id,
            created: GeminiFixtures.created
        )
        let expected = try GeminiFixtures.json("gemini-response-text.completion.json")
        #expect(completion == expected)
    }

    @Test func functionCallResponse() throws {
        let completion = try GeminiOutbound.response(
            try GeminiFixtures.json("gemini-response-tool.json"),
            model: GeminiFixtures.model,
            id: GeminiFixtures.id,
            created: GeminiFixtures.created
        )
        let expected = try GeminiFixtures.json("gemini-response-tool.completion.json")
        #expect(completion == expected)
    }

    @Test(arguments: [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("BLOCKLIST", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("SPII", "content_filter"),
        ("OTHER", "stop"),
        ("MALFORMED_FUNCTION_CALL", "stop"),
    ])
    func finishReasonTable(gemini: String, openAI: String) throws {
        let json = try GeminiFixtures.parse(
            #"{"candidates":[{"content":{"role":"model","parts":[{"text":"x"}]},"finishReason":"\#(gemini)"}]}"#
        )
        let completion = try GeminiOutbound.response(json, model: "m", id: "chatcmpl-1", created: 0)
        #expect(completion["choices"]?[0]?["finish_reason"] == JSONValue.string(openAI))

        var decoder = GeminiFixtures.decoder()
        let chunks = try decoder.decode(GeminiFixtures.event(json))
        #expect(chunks.last?["choices"]?[0]?["finish_reason"] == JSONValue.string(openAI))
        #expect(decoder.sawFinishReason)
    }

    @Test(arguments: [("STOP", "tool_calls"), ("MAX_TOKENS", "length")])
    func finishReasonWithFunctionCalls(gemini: String, openAI: String) throws {
        let json = try GeminiFixtures.parse(
            #"{"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"f","args":{}}}]},"finishReason":"\#(gemini)"}]}"#
        )
        let completion = try GeminiOutbound.response(json, model: "m", id: "chatcmpl-1", created: 0)
        #expect(completion["choices"]?[0]?["finish_reason"] == JSONValue.string(openAI))

        var decoder = GeminiFixtures.decoder()
        let chunks = try decoder.decode(GeminiFixtures.event(json))
        #expect(chunks.last?["choices"]?[0]?["finish_reason"] == JSONValue.string(openAI))
    }

    @Test func blockedPromptIsAnEmptyContentFilterAnswer() throws {
        let json = try GeminiFixtures.parse(
            #"{"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":7,"totalTokenCount":7}}"#
        )
        let completion = try GeminiOutbound.response(json, model: "m", id: "chatcmpl-1", created: 5)
        #expect(completion["choices"]?[0]?["finish_reason"] == "content_filter")
        let message: JSONValue = ["role": "assistant", "content": ""]
        let usage: JSONValue = ["prompt_tokens": 7, "completion_tokens": 0, "total_tokens": 7]
        #expect(completion["choices"]?[0]?["message"] == message)
        #expect(completion["usage"] == usage)
    }

    @Test func responseWithoutCandidatesOrFeedbackIsAnUpstreamFault() throws {
        #expect(throws: TranslationError.self) {
            try GeminiOutbound.response(try GeminiFixtures.parse(#"{"usageMetadata":{}}"#), model: "m", id: "i", created: 0)
        }
        #expect(throws: TranslationError.self) {
            try GeminiOutbound.response(try GeminiFixtures.parse("[]"), model: "m", id: "i", created: 0)
        }
    }

    @Test func errorMessageReadsGoogleErrorBodies() throws {
        let body = try GeminiFixtures.parse(
            #"{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED"}}"#
        )
        #expect(GeminiOutbound.errorMessage(body) == "Resource has been exhausted (e.g. check quota).")
        #expect(GeminiOutbound.errorMessage(.array([body])) == "Resource has been exhausted (e.g. check quota).")
        let notAnError: JSONValue = ["candidates": []]
        #expect(GeminiOutbound.errorMessage(notAnError) == nil)
    }
}

struct GeminiStreamTests {
    @Test func streamedTextOverSeveralEvents() throws {
        var decoder = GeminiFixtures.decoder()
        let events = GeminiFixtures.events(try GeminiFixtures.bytes("gemini-stream-text.sse"))
        #expect(events.count == 4)
        let chunks = try GeminiFixtures.decode(events, with: &decoder)
        let expected = try GeminiFixtures.json("gemini-stream-text.chunks.json").arrayValue
        #expect(chunks == expected)
        #expect(decoder.sawFinishReason)
    }

    @Test func streamedFunctionCallsWithCRLFEvents() throws {
        var decoder = GeminiFixtures.decoder()
        let events = GeminiFixtures.events(try GeminiFixtures.bytes("gemini-stream-tool.sse"))
        #expect(events.count == 2)
        let chunks = try GeminiFixtures.decode(events, with: &decoder)
        let expected = try GeminiFixtures.json("gemini-stream-tool.chunks.json").arrayValue
        #expect(chunks == expected)
        #expect(decoder.sawFinishReason)
        #expect(decoder.usage == Usage(promptTokens: 20, completionTokens: 15))
    }

    @Test func latestUsageWinsAndIsEmittedOnceByFinish() throws {
        var decoder = GeminiFixtures.decoder()
        let first = try GeminiFixtures.parse(
            #"{"candidates":[{"content":{"parts":[{"text":"a"}]}}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":1}}"#
        )
        let last = try GeminiFixtures.parse(
            #"{"candidates":[{"content":{"parts":[{"text":"b"}]},"finishReason":"STOP"}],"#
                + #""usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":2,"thoughtsTokenCount":5,"totalTokenCount":10}}"#
        )
        _ = try decoder.decode(GeminiFixtures.event(first))
        #expect(decoder.usage == Usage(promptTokens: 3, completionTokens: 1))
        _ = try decoder.decode(GeminiFixtures.event(last))
        #expect(decoder.usage == Usage(promptTokens: 3, completionTokens: 7))

        let usageChunk: JSONValue = [
            "id": "chatcmpl-test", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": "gemini-flash",
            "choices": [],
            "usage": ["prompt_tokens": 3, "completion_tokens": 7, "total_tokens": 10, "completion_tokens_details": ["reasoning_tokens": 5]],
        ]
        let tail = decoder.finish()
        #expect(tail == [usageChunk])
        let again = decoder.finish()
        #expect(again.isEmpty)
    }

    @Test func noUsageMeansNoUsageChunkAndACutStreamHasNoFinishReason() throws {
        var decoder = GeminiFixtures.decoder()
        let chunks = try decoder.decode(
            GeminiFixtures.event(try GeminiFixtures.parse(#"{"candidates":[{"content":{"parts":[{"text":"partial"}]}}]}"#))
        )
        let delta: JSONValue = ["role": "assistant", "content": "partial"]
        #expect(chunks.count == 1)
        #expect(chunks.first?["choices"]?[0]?["delta"] == delta)
        let tail = decoder.finish()
        #expect(tail.isEmpty)
        #expect(decoder.usage == nil)
        #expect(!decoder.sawFinishReason)
    }

    @Test func blockedPromptInAStreamFinishesWithContentFilter() throws {
        var decoder = GeminiFixtures.decoder()
        let chunks = try decoder.decode(GeminiFixtures.event(try GeminiFixtures.parse(#"{"promptFeedback":{"blockReason":"PROHIBITED_CONTENT"}}"#)))
        let delta: JSONValue = ["role": "assistant"]
        #expect(chunks.count == 1)
        #expect(chunks.first?["choices"]?[0]?["delta"] == delta)
        #expect(chunks.first?["choices"]?[0]?["finish_reason"] == "content_filter")
        #expect(decoder.sawFinishReason)
    }

    @Test func errorEventsAndGarbageThrow() throws {
        let errorEvent = GeminiFixtures.event(
            try GeminiFixtures.parse(#"{"error":{"code":503,"message":"overloaded","status":"UNAVAILABLE"}}"#)
        )
        #expect(throws: TranslationError.self) {
            var decoder = GeminiFixtures.decoder()
            return try decoder.decode(errorEvent)
        }
        let garbage = try #require(GeminiFixtures.events(Array("data: {not json\n\n".utf8)).first)
        #expect(throws: TranslationError.self) {
            var decoder = GeminiFixtures.decoder()
            return try decoder.decode(garbage)
        }
    }
}

struct GeminiEmbeddingsTests {
    @Test func requestListsOneRequestPerInput() throws {
        let body = try GeminiOutbound.embeddingsRequest(
            try GeminiFixtures.chat(#"{"model":"embed","input":["a","héllo"],"dimensions":256,"encoding_format":"float"}"#),
            upstreamModel: "gemini-embedding-001"
        )
        let expected = try GeminiFixtures.parse(
            #"{"requests":["#
                + #"{"model":"models/gemini-embedding-001","content":{"parts":[{"text":"a"}]},"outputDimensionality":256},"#
                + #"{"model":"models/gemini-embedding-001","content":{"parts":[{"text":"héllo"}]},"outputDimensionality":256}]}"#
        )
        #expect(body == expected)
    }

    @Test func aSingleStringIsOneRequest() throws {
        let body = try GeminiOutbound.embeddingsRequest(["input": "hi"], upstreamModel: "models/text-embedding-004")
        let expected: JSONValue = ["requests": [["model": "models/text-embedding-004", "content": ["parts": [["text": "hi"]]]]]]
        #expect(body == expected)
    }

    @Test(arguments: [
        (#"{"input":[1,2,3]}"#, "input"),
        (#"{"input":[[1,2],[3]]}"#, "input"),
        (#"{"input":["a",""]}"#, "input[1]"),
        (#"{"input":[]}"#, "input"),
        (#"{"model":"e"}"#, "input"),
        (#"{"input":"a","dimensions":0}"#, "dimensions"),
    ])
    func badEmbeddingsRequestsNameTheParameter(body: String, param: String) throws {
        let request = try GeminiFixtures.chat(body)
        let error = #expect(throws: TranslationError.self) {
            try GeminiOutbound.embeddingsRequest(request, upstreamModel: "gemini-embedding-001")
        }
        #expect(error?.param == param)
    }

    @Test func responseIsAnOpenAIListWithEstimatedTokens() throws {
        let json = try GeminiFixtures.parse(#"{"embeddings":[{"values":[0.25,-0.5]},{"values":[1,0.125]}]}"#)
        let response = try GeminiOutbound.embeddingsResponse(json, model: "embed", inputBytes: 10)
        let expected = try GeminiFixtures.parse(
            #"{"object":"list","model":"embed","usage":{"prompt_tokens":3,"total_tokens":3},"data":["#
                + #"{"object":"embedding","index":0,"embedding":[0.25,-0.5]},"#
                + #"{"object":"embedding","index":1,"embedding":[1,0.125]}]}"#
        )
        #expect(response == expected)
        let exact = try GeminiOutbound.embeddingsResponse(json, model: "embed", inputBytes: 8)
        #expect(exact["usage"]?["prompt_tokens"] == 2)
    }

    @Test func malformedEmbeddingsResponsesThrow() throws {
        let notNumbers: JSONValue = ["embeddings": [["values": ["x"]]]]
        let anError: JSONValue = ["error": ["message": "no"]]
        #expect(throws: TranslationError.self) {
            try GeminiOutbound.embeddingsResponse(notNumbers, model: "e", inputBytes: 1)
        }
        #expect(throws: TranslationError.self) {
            try GeminiOutbound.embeddingsResponse(anError, model: "e", inputBytes: 1)
        }
    }
}
