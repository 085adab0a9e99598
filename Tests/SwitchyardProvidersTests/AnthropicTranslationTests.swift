import Foundation
import SwitchyardCore
import SwitchyardProviders
import Testing

/// Golden files live next to this file in `Golden/`; JSON is compared as parsed values (printed
/// with sorted keys, so a failure shows a readable diff).
private enum AnthropicGolden {
    static func url(_ name: String) -> URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden").appendingPathComponent(name)
    }

    static func bytes(_ name: String) throws -> [UInt8] {
        let data = try Data(contentsOf: self.url(name))
        return Array(data)
    }

    static func json(_ name: String) throws -> JSONValue {
        let bytes = try self.bytes(name)
        return try JSONValue(parsing: bytes)
    }

    static func events(_ name: String) throws -> [SSEEvent] {
        let bytes = try self.bytes(name)
        return anthropicSplit([bytes])
    }
}

private func anthropicText(_ value: JSONValue) -> String {
    String(decoding: value.serialized(sortedKeys: true), as: UTF8.self)
}

private func anthropicParse(_ text: String) throws -> JSONValue {
    try JSONValue(parsing: Array(text.utf8))
}

private func anthropicSplit(_ chunks: [[UInt8]]) -> [SSEEvent] {
    var splitter = SSEEventSplitter()
    var events: [SSEEvent] = []
    for chunk in chunks { events.append(contentsOf: splitter.append(chunk)) }
    return events
}

/// SSE events from bare `data:` payloads.
private func anthropicEvents(_ payloads: [String]) -> [SSEEvent] {
    anthropicSplit(payloads.map { Array("data: \($0)\n\n".utf8) })
}

/// Each event as `name data` with the data's keys sorted.
private func anthropicNormalized(_ events: [SSEEvent]) throws -> [String] {
    var lines: [String] = []
    for event in events {
        let data = try anthropicParse(event.data)
        lines.append("\(event.event ?? "-") \(anthropicText(data))")
    }
    return lines
}

// MARK: - Router → Anthropic

struct AnthropicOutboundRequestTests {
    @Test func requestMatchesGolden() throws {
        let parsed = try AnthropicGolden.json("anthropic-outbound-request.input.json")
        let chat = try #require(parsed.objectValue)
        let body = try AnthropicOutbound.request(chat: chat, upstreamModel: "claude-sonnet-4-5", stream: true)
        let expected = try AnthropicGolden.json("anthropic-outbound-request.expected.json")
        #expect(anthropicText(body) == anthropicText(expected))
    }

    @Test func defaultsMaxTokensClampsTemperatureAndTakesStopArrays() throws {
        let chat: [String: JSONValue] = [
            "model": "m",
            "messages": [["role": "user", "content": "hi"]],
            "stop": ["a", "b"],
            "temperature": 1.7,
        ]
        let body = try AnthropicOutbound.request(chat: chat, upstreamModel: "claude", stream: false)
        #expect(body["model"] == "claude")
        #expect(body["max_tokens"] == 4096)
        let stops: JSONValue = ["a", "b"]
        #expect(body["stop_sequences"] == stops)
        #expect(body["temperature"] == 1.0)
        #expect(body["stream"] == nil)
        #expect(body["system"] == nil)
        let messages: JSONValue = [["role": "user", "content": [["type": "text", "text": "hi"]]]]
        #expect(body["messages"] == messages)
    }

    @Test func maxTokensIsPreferredFromMaxCompletionTokens() throws {
        let chat: [String: JSONValue] = [
            "messages": [["role": "user", "content": "hi"]],
            "max_tokens": 100,
            "max_completion_tokens": 200,
        ]
        let body = try AnthropicOutbound.request(chat: chat, upstreamModel: "claude", stream: false)
        #expect(body["max_tokens"] == 200)
    }

    static let toolChoices: [(JSONValue, String)] = [
        (.string("auto"), "auto"),
        (.string("none"), "none"),
        (.string("required"), "any"),
        (.object(["type": "function", "function": ["name": "f"]]), "tool"),
    ]

    @Test(arguments: toolChoices)
    func toolChoiceMaps(choice: JSONValue, type: String) throws {
        let chat: [String: JSONValue] = [
            "messages": [["role": "user", "content": "hi"]],
            "tools": [["type": "function", "function": ["name": "f"]]],
            "tool_choice": choice,
        ]
        let body = try AnthropicOutbound.request(chat: chat, upstreamModel: "claude", stream: false)
        #expect(body["tool_choice"]?["type"]?.stringValue == type)
        #expect(body["tool_choice"]?["disable_parallel_tool_use"] == nil)
    }

    @Test func toolChoiceWithoutToolsIsDropped() throws {
        let chat: [String: JSONValue] = ["messages": [["role": "user", "content": "hi"]], "tool_choice": "auto", "parallel_tool_calls": false]
        let body = try AnthropicOutbound.request(chat: chat, upstreamModel: "claude", stream: false)
        #expect(body["tool_choice"] == nil)
        #expect(body["tools"] == nil)
    }

    @Test func toolResultsComeFirstInTheirUserTurn() throws {
        let chat: [String: JSONValue] = [
            "messages": [
                ["role": "user", "content": "weather?"],
                ["role": "assistant", "tool_calls": [["id": "c1", "type": "function", "function": ["name": "w", "arguments": "{}"]]]],
                ["role": "user", "content": "also, hurry"],
                ["role": "tool", "tool_call_id": "c1", "content": "sunny"],
            ]
        ]
        let body = try AnthropicOutbound.request(chat: chat, upstreamModel: "claude", stream: false)
        let messages = try #require(body["messages"]?.arrayValue)
        #expect(messages.count == 3)
        let toolUse: JSONValue = [["type": "tool_use", "id": "c1", "name": "w", "input": .object([:])]]
        #expect(messages[1]["content"] == toolUse)
        #expect(messages[2]["role"] == "user")
        let results: JSONValue = [["type": "tool_result", "tool_use_id": "c1", "content": "sunny"], ["type": "text", "text": "also, hurry"]]
        #expect(messages[2]["content"] == results)
    }

    @Test(arguments: [
        (#"{"messages":[{"role":"user","content":"hi"}],"n":2}"#, "n"),
        (
            #"{"messages":[{"role":"user","content":"hi"},{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{oops"}}]}]}"#,
            "messages[1].tool_calls[0].function.arguments"
        ),
        (
            #"{"messages":[{"role":"user","content":"hi"},{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"[1]"}}]}]}"#,
            "messages[1].tool_calls[0].function.arguments"
        ),
        (
            #"{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"ftp://x/y.png"}}]}]}"#,
            "messages[0].content[0].image_url.url"
        ),
        (
            #"{"messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"x","format":"wav"}}]}]}"#,
            "messages[0].content[0].type"
        ),
        (#"{"messages":[{"role":"function","name":"f","content":"x"}]}"#, "messages[0].role"),
        (#"{"messages":[{"role":"tool","content":"x"}]}"#, "messages[0].tool_call_id"),
        (#"{"messages":[{"role":"system","content":"only a system prompt"}]}"#, "messages"),
        (#"{"messages":[{"role":"user","content":"hi"}],"max_tokens":0}"#, "max_tokens"),
        (#"{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"web_search"}]}"#, "tools[0].type"),
        (
            #"{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"sometimes"}"#,
            "tool_choice"
        ),
    ])
    func untranslatableRequestsNameTheParam(body: String, param: String) throws {
        let parsed = try anthropicParse(body)
        let chat = try #require(parsed.objectValue)
        let error = #expect(throws: TranslationError.self) {
            _ = try AnthropicOutbound.request(chat: chat, upstreamModel: "claude", stream: false)
        }
        #expect(error?.param == param)
    }
}

struct AnthropicOutboundResponseTests {
    @Test(arguments: ["text", "tool"])
    func responseMatchesGolden(name: String) throws {
        let message = try AnthropicGolden.json("anthropic-response-\(name).input.json")
        let completion = try AnthropicOutbound.response(message, model: "chat-alias", created: 1_700_000_000)
        let expected = try AnthropicGolden.json("anthropic-response-\(name).expected.json")
        #expect(anthropicText(completion) == anthropicText(expected))
    }

    @Test(arguments: [
        ("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"), ("tool_use", "tool_calls"),
        ("refusal", "content_filter"), ("pause_turn", "stop"),
    ])
    func stopReasonMaps(stopReason: String, finishReason: String) throws {
        let message: JSONValue = [
            "id": "msg_1",
            "content": [["type": "text", "text": "x"]],
            "stop_reason": .string(stopReason),
            "usage": ["input_tokens": 1, "output_tokens": 2],
        ]
        let completion = try AnthropicOutbound.response(message, model: "a", created: 0)
        #expect(completion["choices"]?[0]?["finish_reason"]?.stringValue == finishReason)
        #expect(completion["usage"]?["total_tokens"] == 3)
    }

    @Test func errorBodyThrowsWithTheUpstreamMessage() {
        let body: JSONValue = ["type": "error", "error": ["type": "overloaded_error", "message": "Overloaded"]]
        let error = #expect(throws: TranslationError.self) {
            _ = try AnthropicOutbound.response(body, model: "a", created: 0)
        }
        #expect(error?.message == "Overloaded")
    }
}

struct AnthropicStreamDecoderTests {
    private func decodeAll(_ name: String) throws -> (chunks: [JSONValue], decoder: AnthropicOutbound.StreamDecoder) {
        var decoder = AnthropicOutbound.StreamDecoder(model: "chat-alias", created: 1_700_000_000)
        var chunks: [JSONValue] = []
        for event in try AnthropicGolden.events(name) {
            let produced = try decoder.decode(event)
            chunks.append(contentsOf: produced)
        }
        return (chunks, decoder)
    }

    @Test func streamedTextMatchesGolden() throws {
        let (chunks, decoder) = try self.decodeAll("anthropic-stream-text.sse")
        let expected = try AnthropicGolden.json("anthropic-stream-text.expected.json")
        #expect(anthropicText(.array(chunks)) == anthropicText(expected))
        let text = chunks.compactMap { $0["choices"]?[0]?["delta"]?["content"]?.stringValue }.joined()
        #expect(text == "Hello, world!")
        #expect(decoder.isFinished)
        #expect(decoder.usage == Usage(promptTokens: 25, completionTokens: 15))
    }

    @Test func streamedToolCallRelaysEveryFragmentInOrder() throws {
        let (chunks, decoder) = try self.decodeAll("anthropic-stream-tool.sse")
        let expected = try AnthropicGolden.json("anthropic-stream-tool.expected.json")
        #expect(anthropicText(.array(chunks)) == anthropicText(expected))

        var arguments: [Int64: String] = [:]
        var fragments: [Int64: Int] = [:]
        var names: [Int64: String] = [:]
        for chunk in chunks {
            for call in chunk["choices"]?[0]?["delta"]?["tool_calls"]?.arrayValue ?? [] {
                let index = try #require(call["index"]?.intValue)
                let piece = call["function"]?["arguments"]?.stringValue ?? ""
                arguments[index, default: ""] += piece
                if !piece.isEmpty { fragments[index, default: 0] += 1 }
                if let name = call["function"]?["name"]?.stringValue { names[index] = name }
            }
        }
        let expectedNames: [Int64: String] = [0: "get_weather", 1: "get_time"]
        #expect(names == expectedNames)
        #expect(fragments[0] == 5)
        #expect(arguments[0] == #"{"city": "San Francisco, CA", "unit": "celsius"}"#)
        #expect(arguments[1] == #"{"tz": "PST"}"#)
        let weather = try anthropicParse(arguments[0] ?? "")
        let expectedWeather: JSONValue = ["city": "San Francisco, CA", "unit": "celsius"]
        #expect(weather == expectedWeather)
        #expect(decoder.usage == Usage(promptTokens: 472, completionTokens: 89))
    }

    @Test func streamedUsageCountsCacheAndArrivesLast() throws {
        var decoder = AnthropicOutbound.StreamDecoder(model: "m", created: 5)
        #expect(decoder.usage == nil)
        let events = anthropicEvents([
            #"{"type":"message_start","message":{"id":"msg_u","usage":{"input_tokens":10,"cache_creation_input_tokens":5,"cache_read_input_tokens":100,"output_tokens":1}}}"#,
            #"{"type":"message_delta","delta":{"stop_reason":"max_tokens","stop_sequence":null},"usage":{"output_tokens":7}}"#,
            #"{"type":"message_stop"}"#,
        ])
        #expect(events.count == 3)

        let start = try decoder.decode(events[0])
        #expect(start.count == 1)
        #expect(decoder.usage == Usage(promptTokens: 115, completionTokens: 1))

        let delta = try decoder.decode(events[1])
        #expect(delta.first?["choices"]?[0]?["finish_reason"] == "length")
        #expect(decoder.usage == Usage(promptTokens: 115, completionTokens: 7))
        #expect(!decoder.isFinished)

        let stop = try decoder.decode(events[2])
        let last = try #require(stop.last)
        #expect(last.isUsageOnlyChunk)
        #expect(last["id"] == "chatcmpl-msg_u")
        let expectedUsage: JSONValue = [
            "prompt_tokens": 115, "completion_tokens": 7, "total_tokens": 122, "prompt_tokens_details": ["cached_tokens": 100],
        ]
        #expect(last["usage"] == expectedUsage)
        #expect(decoder.isFinished)
    }

    @Test func pingIsSilentAndErrorEventThrowsTheUpstreamMessage() throws {
        var decoder = AnthropicOutbound.StreamDecoder(model: "m", created: 5)
        let events = anthropicEvents([
            #"{"type":"ping"}"#,
            #"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        ])
        #expect(events.count == 2)
        let pinged = try decoder.decode(events[0])
        #expect(pinged.isEmpty)
        let failing = decoder
        let error = #expect(throws: TranslationError.self) {
            var copy = failing
            _ = try copy.decode(events[1])
        }
        #expect(error?.message == "Overloaded")
    }
}

// MARK: - Anthropic client → router

struct AnthropicInboundRequestTests {
    @Test func requestMatchesGolden() throws {
        let body = try AnthropicGolden.json("anthropic-inbound-request.input.json")
        let chat = try AnthropicInbound.chatRequest(body)
        let expected = try AnthropicGolden.json("anthropic-inbound-request.expected.json")
        #expect(anthropicText(chat) == anthropicText(expected))
        // What comes out is a body the router itself accepts.
        let request = try ChatRequest(json: chat)
        #expect(request.model == "claude-alias")
        #expect(request.stream)
        #expect(request.includeUsage)
    }

    @Test func minimalRequestDropsTopKAndAddsNoStreamOptions() throws {
        let body: JSONValue = [
            "model": "claude-alias", "max_tokens": 5, "messages": [["role": "user", "content": "hi"]], "top_k": 3, "stream": false,
        ]
        let chat = try AnthropicInbound.chatRequest(body)
        let expected: JSONValue = ["model": "claude-alias", "max_tokens": 5, "messages": [["role": "user", "content": "hi"]]]
        #expect(chat == expected)
    }

    @Test(arguments: [
        (#"[]"#, nil as String?),
        (#"{"max_tokens":10,"messages":[{"role":"user","content":"hi"}]}"#, "model"),
        (#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#, "max_tokens"),
        (#"{"model":"m","max_tokens":0,"messages":[{"role":"user","content":"hi"}]}"#, "max_tokens"),
        (#"{"model":"m","max_tokens":1.5,"messages":[{"role":"user","content":"hi"}]}"#, "max_tokens"),
        (#"{"model":"m","max_tokens":10}"#, "messages"),
        (#"{"model":"m","max_tokens":10,"messages":[]}"#, "messages"),
        (#"{"model":"m","max_tokens":10,"messages":[{"role":"system","content":"hi"}]}"#, "messages[0].role"),
        (#"{"model":"m","max_tokens":10,"messages":[{"role":"user"}]}"#, "messages[0].content"),
        (
            #"{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":[{"type":"text","text":"a"}]},{"role":"user","content":[{"type":"video"}]}]}"#,
            "messages[2].content[0].type"
        ),
        (
            #"{"model":"m","max_tokens":10,"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"image","source":{"type":"file","file_id":"f"}}]}]}"#,
            "messages[0].content[1].source.type"
        ),
        (
            #"{"model":"m","max_tokens":10,"messages":[{"role":"user","content":[{"type":"tool_result","content":"x"}]}]}"#,
            "messages[0].content[0].tool_use_id"
        ),
        (
            #"{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"web_search_20250305","name":"web_search"}]}"#,
            "tools[0].type"
        ),
        (#"{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"}],"tools":[{"name":"f"}]}"#, "tools[0].input_schema"),
        (
            #"{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"}],"tools":[{"name":"f","input_schema":{}}],"tool_choice":{"type":"tool"}}"#,
            "tool_choice.name"
        ),
        (#"{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"}],"stream":"yes"}"#, "stream"),
        (#"{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"}],"system":5}"#, "system"),
        (#"{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"}],"stop_sequences":["ok",3]}"#, "stop_sequences[1]"),
    ])
    func badRequestsNameTheParam(body: String, param: String?) throws {
        let json = try anthropicParse(body)
        let error = #expect(throws: APIError.self) {
            _ = try AnthropicInbound.chatRequest(json)
        }
        #expect(error?.status == 400)
        #expect(error?.type == "invalid_request_error")
        #expect(error?.param == param)
        if let param { #expect(error?.message.hasPrefix("\(param): ") == true) }
    }
}

struct AnthropicInboundResponseTests {
    @Test func responseMatchesGolden() throws {
        let completion = try AnthropicGolden.json("anthropic-inbound-response.input.json")
        let message = AnthropicInbound.response(completion, model: "claude-alias")
        let expected = try AnthropicGolden.json("anthropic-inbound-response.expected.json")
        #expect(anthropicText(message) == anthropicText(expected))
    }

    @Test(arguments: [("stop", "end_turn"), ("length", "max_tokens"), ("tool_calls", "tool_use"), ("content_filter", "refusal")])
    func finishReasonMapsBack(finishReason: String, stopReason: String) {
        let completion: JSONValue = [
            "id": "chatcmpl-1",
            "choices": [["index": 0, "message": ["role": "assistant", "content": "x"], "finish_reason": .string(finishReason)]],
            "usage": ["prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3],
        ]
        let message = AnthropicInbound.response(completion, model: "a")
        #expect(message["stop_reason"]?.stringValue == stopReason)
        #expect(message["id"] == "msg_1")
        let content: JSONValue = [["type": "text", "text": "x"]]
        #expect(message["content"] == content)
        let usage: JSONValue = ["input_tokens": 1, "output_tokens": 2]
        #expect(message["usage"] == usage)
    }

    @Test(arguments: [
        (400, "invalid_request_error"), (401, "authentication_error"), (403, "permission_error"), (404, "not_found_error"),
        (413, "request_too_large"), (422, "invalid_request_error"), (429, "rate_limit_error"), (500, "api_error"),
        (502, "api_error"), (503, "api_error"), (529, "overloaded_error"),
    ])
    func errorBodyMapsTheStatus(status: Int, type: String) {
        let error = APIError(status: status, type: "router_error", code: "x", message: "boom")
        let body = AnthropicInbound.errorBody(error)
        let expected: JSONValue = ["type": "error", "error": ["type": .string(type), "message": "boom"]]
        #expect(body == expected)
    }
}

struct AnthropicStreamEncoderTests {
    @Test func encoderMatchesGolden() throws {
        let input = try AnthropicGolden.json("anthropic-encoder.input.json")
        let chunks = try #require(input.arrayValue)
        var encoder = AnthropicInbound.StreamEncoder(model: "claude-alias", messageID: "msg_test")
        var emitted: [[UInt8]] = []
        for chunk in chunks { emitted.append(contentsOf: encoder.encode(chunk)) }
        emitted.append(contentsOf: encoder.finish())
        let again = encoder.finish()
        #expect(again.isEmpty)

        // Every element is exactly one whole event.
        for bytes in emitted {
            let text = String(decoding: bytes, as: UTF8.self)
            #expect(text.hasPrefix("event: ") && text.hasSuffix("\n\n"))
            #expect(anthropicSplit([bytes]).count == 1)
        }

        let actual = try anthropicNormalized(anthropicSplit(emitted))
        let expected = try anthropicNormalized(AnthropicGolden.events("anthropic-encoder.expected.sse"))
        #expect(actual == expected)

        // The tool call's fragments, in order, are its whole input.
        var input1 = ""
        for event in anthropicSplit(emitted) where event.event == "content_block_delta" {
            let data = try anthropicParse(event.data)
            if data["index"] == 1, let piece = data["delta"]?["partial_json"]?.stringValue { input1 += piece }
        }
        let parsedInput = try anthropicParse(input1)
        let expectedInput: JSONValue = ["city": "Paris"]
        #expect(parsedInput == expectedInput)
    }

    @Test func finishWithoutChunksStillProducesAWholeMessage() throws {
        var encoder = AnthropicInbound.StreamEncoder(model: "a", messageID: "msg_1")
        let events = anthropicSplit(encoder.finish())
        let names = events.map { $0.event }
        let expectedNames: [String?] = ["message_start", "message_delta", "message_stop"]
        #expect(names == expectedNames)
        let deltaEvent = try #require(events.dropFirst().first)
        let delta = try anthropicParse(deltaEvent.data)
        #expect(delta["delta"]?["stop_reason"] == "end_turn")
    }

    @Test func textAfterToolCallOpensANewBlock() throws {
        var encoder = AnthropicInbound.StreamEncoder(model: "a", messageID: "msg_1")
        var emitted: [[UInt8]] = []
        let chunks: [JSONValue] = [
            ["choices": [["index": 0, "delta": ["tool_calls": [["index": 0, "id": "c", "function": ["name": "f", "arguments": "{}"]]]]]]],
            ["choices": [["index": 0, "delta": ["content": "done"], "finish_reason": "stop"]]],
        ]
        for chunk in chunks { emitted.append(contentsOf: encoder.encode(chunk)) }
        emitted.append(contentsOf: encoder.finish())
        let events = anthropicSplit(emitted)
        let names = events.map { $0.event }
        let expectedNames: [String?] = [
            "message_start", "content_block_start", "content_block_delta", "content_block_stop", "content_block_start",
            "content_block_delta", "content_block_stop", "message_delta", "message_stop",
        ]
        #expect(names == expectedNames)
        try #require(events.count == expectedNames.count)
        let secondStart = try anthropicParse(events[4].data)
        #expect(secondStart["index"] == 1)
        #expect(secondStart["content_block"]?["type"] == "text")
        // "stop" with tool calls is still a tool_use turn for an Anthropic client.
        let delta = try anthropicParse(events[7].data)
        #expect(delta["delta"]?["stop_reason"] == "tool_use")
    }

    @Test func errorEventIsOneAnthropicErrorEvent() throws {
        let bytes = AnthropicInbound.StreamEncoder.errorEvent(type: "overloaded_error", message: #"Upstream "busy""#)
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.hasPrefix("event: error\ndata: "))
        #expect(text.hasSuffix("\n\n"))
        let events = anthropicSplit([bytes])
        #expect(events.count == 1)
        let event = try #require(events.first)
        #expect(event.event == "error")
        let data = try anthropicParse(event.data)
        let expected: JSONValue = ["type": "error", "error": ["type": "overloaded_error", "message": #"Upstream "busy""#]]
        #expect(data == expected)
    }
}
