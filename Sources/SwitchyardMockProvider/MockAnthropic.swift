import HTTPTypes
import Hummingbird
import NIOCore
import SwitchyardCore

/// Anthropic's Messages API (`POST /v1/messages`), answered like the OpenAI mock: the same
/// deterministic text (`mock reply to: <last message text>`), the same tool-call trigger (tools
/// offered, `tool_choice` not `none`, last message not a tool result), the same word counts as
/// usage, the same per-token latency and the same faults, in Anthropic's shapes.
///
/// Requires `x-api-key` (any non-empty value, else `401 authentication_error`) and
/// `anthropic-version` (else `400`), then `model` (string), `max_tokens` (integer) and a
/// non-empty `messages` array (else `400 invalid_request_error`).
enum MockAnthropic {
    static let apiKeyHeader = HTTPField.Name("x-api-key")!
    static let versionHeader = HTTPField.Name("anthropic-version")!

    /// `POST /v1/messages`.
    static func messages(_ request: Request, context: MockRequestContext, defaultLatencyMs: Int, stats: MockStats) async throws -> Response {
        var request = request
        let buffer = try await request.collectBody(upTo: 16 << 20)
        let parsed = try? JSONValue(parsing: buffer.readableBytesView)
        let number = stats.record(.anthropic, model: parsed?["model"]?.stringValue)
        let dialect = MockDialect.anthropic

        guard let apiKey = request.headers[Self.apiKeyHeader], !apiKey.isEmpty else {
            return dialect.error(.unauthenticated, message: "x-api-key header is required")
        }
        guard request.headers[Self.versionHeader]?.isEmpty == false else {
            return dialect.error(.badRequest, message: "anthropic-version: header is required")
        }
        guard let body = parsed, case .object = body else {
            return dialect.error(.badRequest, message: "mock: body must be a JSON object")
        }
        guard let model = body["model"]?.stringValue else {
            return dialect.error(.badRequest, message: "model: Field required (a string)")
        }
        guard body["max_tokens"]?.intValue != nil else {
            return dialect.error(.badRequest, message: "max_tokens: Field required (an integer)")
        }
        guard let messages = body["messages"]?.arrayValue, !messages.isEmpty else {
            return dialect.error(.badRequest, message: "messages: at least one message is required")
        }

        let behaviour = MockBehaviour(model: model, headers: request.headers, defaultLatencyMs: defaultLatencyMs)
        if let response = try await dialect.respond(to: behaviour, body: request.body, context: context, credential: apiKey) {
            return response
        }

        let last = messages[messages.count - 1]
        let lastText = Self.text(of: last["content"])
        var completion = MockCompletion(
            promptTokens: messages.reduce(MockCompletion.words(in: Self.text(of: body["system"])).count) {
                $0 + MockCompletion.words(in: Self.text(of: $1["content"])).count
            },
            lastText: lastText,
            lastIsToolResult: Self.hasToolResult(last),
            tool: Self.chosenTool(body)
        )
        completion.apply(
            behaviour.reply,
            body: body,
            lastText: lastText,
            firstUserText: messages.first { $0["role"] == "user" }.map { Self.text(of: $0["content"]) } ?? "",
            repairing: messages.contains { $0["role"] == "assistant" }
        )
        if completion.toolCall == nil, lastText == "__echo_auth__" {
            completion.tokens = [apiKey]
        }
        let id = "msg_mock_\(number)"
        let latency = Duration.milliseconds(behaviour.tokenLatencyMs)
        let cut = behaviour.fault == .cut
        if body["stream"]?.boolValue ?? false {
            return Self.stream(completion, id: id, model: model, cut: cut, streamError: behaviour.fault == .streamError)
                .response(latency: latency, channel: context.channel)
        }
        if latency > .zero { try await Task.sleep(for: latency * completion.tokens.count) }
        return MockProvider.jsonBody(Self.message(completion, id: id, model: model), cut: cut, channel: context.channel)
    }

    /// The id of the mock's tool-use block (there is at most one per answer).
    static let toolUseID = "toolu_mock_1"

    static func stopReason(_ completion: MockCompletion) -> String {
        completion.toolCall == nil ? "end_turn" : "tool_use"
    }

    /// The non-streaming answer: a `message` object.
    static func message(_ completion: MockCompletion, id: String, model: String) -> JSONValue {
        let content: JSONValue
        if let call = completion.toolCall {
            content = [["type": "tool_use", "id": .string(Self.toolUseID), "name": .string(call.name), "input": completion.toolArguments]]
        } else {
            content = [["type": "text", "text": .string(completion.text)]]
        }
        return [
            "id": .string(id), "type": "message", "role": "assistant", "model": .string(model), "content": content,
            "stop_reason": .string(Self.stopReason(completion)), "stop_sequence": nil,
            "usage": ["input_tokens": .int(Int64(completion.promptTokens)), "output_tokens": .int(Int64(completion.completionTokens))],
        ]
    }

    /// The streaming answer: `message_start`, `content_block_start`, `ping`, one
    /// `content_block_delta` per token (`text_delta`, or `input_json_delta` fragments of the tool
    /// input, at least three), `content_block_stop`, `message_delta`, `message_stop`. `fault-cut`
    /// drops the connection after the first delta.
    static func stream(_ completion: MockCompletion, id: String, model: String, cut: Bool, streamError: Bool = false) -> MockStream {
        func frame(_ event: String, _ data: JSONValue) -> String {
            "event: \(event)\ndata: \(MockProvider.encode(data))\n\n"
        }
        var frames: [String] = []
        frames.append(
            frame(
                "message_start",
                [
                    "type": "message_start",
                    "message": [
                        "id": .string(id), "type": "message", "role": "assistant", "model": .string(model), "content": [],
                        "stop_reason": nil, "stop_sequence": nil,
                        "usage": ["input_tokens": .int(Int64(completion.promptTokens)), "output_tokens": 1],
                    ],
                ]
            )
        )
        let block: JSONValue
        let deltas: [JSONValue]
        if let call = completion.toolCall {
            block = ["type": "tool_use", "id": .string(Self.toolUseID), "name": .string(call.name), "input": [:]]
            var fragments = completion.tokens
            while fragments.count < 3 { fragments.insert("", at: 0) }
            deltas = fragments.map { ["type": "input_json_delta", "partial_json": .string($0)] }
        } else {
            block = ["type": "text", "text": ""]
            deltas = completion.tokens.map { ["type": "text_delta", "text": .string($0)] }
        }
        frames.append(frame("content_block_start", ["type": "content_block_start", "index": 0, "content_block": block]))
        frames.append(frame("ping", ["type": "ping"]))
        let firstDelta = frames.count
        for delta in deltas {
            frames.append(frame("content_block_delta", ["type": "content_block_delta", "index": 0, "delta": delta]))
        }
        frames.append(frame("content_block_stop", ["type": "content_block_stop", "index": 0]))
        frames.append(
            frame(
                "message_delta",
                [
                    "type": "message_delta",
                    "delta": ["stop_reason": .string(Self.stopReason(completion)), "stop_sequence": nil],
                    "usage": ["output_tokens": .int(Int64(completion.completionTokens))],
                ]
            )
        )
        frames.append(frame("message_stop", ["type": "message_stop"]))
        if streamError {
            // Anthropic's typical in-band failure: the message opened, then the model is overloaded.
            frames = [frames[0], frame("error", ["type": "error", "error": ["type": "overloaded_error", "message": "mock: injected overload"]])]
            return MockStream(frames: frames, tokenFrames: 0..<0, cutBefore: nil)
        }
        return MockStream(frames: frames, tokenFrames: firstDelta..<(firstDelta + deltas.count), cutBefore: cut ? firstDelta + 1 : nil)
    }

    /// The text of a `content` (or `system`) field: a string, or its text blocks and the content
    /// of its tool results, joined with spaces.
    static func text(of content: JSONValue?) -> String {
        switch content {
        case .string(let text):
            return text
        case .array(let blocks):
            return blocks.compactMap { block -> String? in
                switch block["type"]?.stringValue {
                case "text": return block["text"]?.stringValue
                case "tool_result": return Self.text(of: block["content"])
                default: return nil
                }
            }
            .joined(separator: " ")
        default:
            return ""
        }
    }

    /// Whether a message carries a `tool_result` block (the answer then summarises it).
    static func hasToolResult(_ message: JSONValue) -> Bool {
        message["content"]?.arrayValue?.contains { $0["type"]?.stringValue == "tool_result" } ?? false
    }

    /// The tool to call: none without `tools` or with `tool_choice` `{"type":"none"}`; the named
    /// one with `{"type":"tool","name":…}`; else the first.
    static func chosenTool(_ body: JSONValue) -> (name: String, parameters: JSONValue?)? {
        guard let tools = body["tools"]?.arrayValue, !tools.isEmpty else { return nil }
        let choice = body["tool_choice"]
        if choice?["type"]?.stringValue == "none" { return nil }
        let declared = tools.compactMap { tool -> (name: String, parameters: JSONValue?)? in
            guard let name = tool["name"]?.stringValue else { return nil }
            return (name: name, parameters: tool["input_schema"])
        }
        if choice?["type"]?.stringValue == "tool", let wanted = choice?["name"]?.stringValue {
            return declared.first { $0.name == wanted }
        }
        return declared.first
    }
}
