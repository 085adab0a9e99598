import Foundation
public import SwitchyardCore

/// What the mock provider will do with one request, derived only from the request, so tests
/// and benchmarks are deterministic. Every wire format the mock speaks (OpenAI chat and
/// embeddings, Anthropic Messages, Gemini) reads its directives through this one parser.
///
/// Directives come from the `x-mock-fault` / `x-mock-token-latency-ms` / `x-mock-retry-after`
/// headers or, so that they survive a router in between, from the upstream model name:
/// `fault-500`, `fault-429`, `fault-400`, `fault-401`, `fault-403`, `fault-503`, `fault-529`,
/// `fault-hang`, `fault-cut`, `fault-reset`, `fault-stream-error`, `latency-<ms>`, `retry-after-<seconds>`, joined with
/// `:` (e.g. `latency-200:my-model`). Headers take precedence; the first `fault-` part wins.
public struct MockBehaviour: Sendable, Hashable {
    /// An API key containing this is refused with `401`, whatever the model.
    public static let revokedKeyMarker = "mock-revoked"
    /// An API key containing this is rate limited (`429`), whatever the model.
    public static let limitedKeyMarker = "mock-limited"

    public enum Fault: String, Sendable, Hashable, CaseIterable {
        case status500 = "500"
        case status429 = "429"
        case status400 = "400"
        case status401 = "401"
        case status403 = "403"
        case status503 = "503"
        /// Anthropic's "overloaded" status; other formats answer 529 with their closest error.
        case status529 = "529"
        case hang
        case cut
        case reset
        /// A stream that opens normally (status 200, the opening event) and then reports an
        /// error in-band instead of any content (`fault-stream-error`).
        case streamError = "stream-error"
    }

    /// How the answer's text is chosen, instead of `mock reply to: <last text>`.
    public enum Reply: String, Sendable, Hashable {
        /// `reply-echo`: the last message's text, verbatim.
        case echo
        /// `reply-request`: the whole request body as JSON (sorted keys), to check what a router sent.
        case request
        /// `reply-json-on-repair`: a sentence that is not JSON, unless the conversation already
        /// holds an answer (a repair retry): then the first user message's text.
        case jsonOnRepair = "json-on-repair"
    }

    public var fault: Fault?
    public var reply: Reply?
    public var tokenLatencyMs: Int
    /// The `retry-after` value (seconds) asked for, if any. A `429` sends `1` when none was asked
    /// for; `503` and `529` send the header only when asked.
    public var retryAfterSeconds: Int?

    public init(model: String, faultHeader: String?, latencyHeader: String?, retryAfterHeader: String? = nil, defaultLatencyMs: Int) {
        var fault = faultHeader.flatMap(Fault.init(rawValue:))
        var latency = latencyHeader.flatMap(Int.init) ?? defaultLatencyMs
        var retryAfter = retryAfterHeader.flatMap(Int.init)
        var reply: Reply?
        for directive in model.split(separator: ":") {
            if directive.hasPrefix("reply-"), reply == nil {
                reply = Reply(rawValue: String(directive.dropFirst("reply-".count)))
            }
            if directive.hasPrefix("fault-"), fault == nil {
                fault = Fault(rawValue: String(directive.dropFirst("fault-".count)))
            } else if directive.hasPrefix("latency-"), latencyHeader == nil, let ms = Int(directive.dropFirst("latency-".count)) {
                latency = ms
            } else if directive.hasPrefix("retry-after-"), retryAfterHeader == nil,
                let seconds = Int(directive.dropFirst("retry-after-".count))
            {
                retryAfter = seconds
            }
        }
        self.fault = fault
        self.reply = reply
        self.tokenLatencyMs = max(0, min(latency, 60_000))
        self.retryAfterSeconds = retryAfter.map { max(0, min($0, 86_400)) }
    }
}

/// The deterministic answer to a chat request.
public struct MockCompletion: Sendable, Hashable {
    public struct ToolCall: Sendable, Hashable {
        public var id: String
        public var name: String
        public var arguments: String
    }

    /// Content pieces, one per streamed chunk; concatenated they are the whole text.
    public var tokens: [String]
    public var toolCall: ToolCall?
    public var promptTokens: Int

    public var text: String { self.tokens.joined() }
    public var completionTokens: Int { max(self.tokens.count, self.toolCall == nil ? 0 : 1) }

    /// The answer to an OpenAI chat-completions request.
    public init(request: JSONValue) {
        let messages = request["messages"]?.arrayValue ?? []
        let last = messages.last
        self.init(
            promptTokens: messages.reduce(0) { $0 + Self.words(in: Self.text(of: $1)).count },
            lastText: last.map(Self.text(of:)) ?? "",
            lastIsToolResult: last?["role"]?.stringValue == "tool",
            tool: Self.chosenTool(request)
        )
    }

    /// The answer to a conversation already reduced to what the answer depends on, whatever the
    /// wire format: the words of all its messages, the text of the last one, whether that one
    /// carries a tool result, and the tool to call (if tools were offered and not switched off).
    ///
    /// With a tool and no tool result last, the answer is a call to that tool with every required
    /// argument filled in; otherwise `mock reply to: <last text>` (or `mock summary of tool result:
    /// <result>`), one word per token.
    init(promptTokens: Int, lastText: String, lastIsToolResult: Bool, tool: (name: String, parameters: JSONValue?)?) {
        self.promptTokens = max(1, promptTokens)
        if let tool, !lastIsToolResult {
            let arguments = Self.arguments(for: tool.parameters)
            self.toolCall = ToolCall(id: "call_" + String(Self.stableHash(tool.name + lastText), radix: 36), name: tool.name, arguments: arguments)
            // Split the arguments into a few fragments for streaming.
            let characters = Array(arguments)
            let size = max(1, (characters.count + 2) / 3)
            self.tokens = stride(from: 0, to: characters.count, by: size).map { String(characters[$0..<min($0 + size, characters.count)]) }
            return
        }
        self.toolCall = nil
        let reply = (lastIsToolResult ? "mock summary of tool result: " : "mock reply to: ") + lastText
        let words = Self.words(in: reply)
        self.tokens = words.enumerated().map { $0.offset == 0 ? String($0.element) : " " + $0.element }
    }

    /// Replaces the text as `reply` asks (a tool call stays as it is). `repairing`: the
    /// conversation already holds an assistant turn.
    mutating func apply(_ reply: MockBehaviour.Reply?, body: JSONValue, lastText: String, firstUserText: String, repairing: Bool) {
        guard let reply, self.toolCall == nil else { return }
        switch reply {
        case .echo: self.tokens = [lastText]
        case .request: self.tokens = [String(decoding: body.serialized(sortedKeys: true), as: UTF8.self)]
        case .jsonOnRepair: self.tokens = [repairing ? firstUserText : "Sure! Here is the answer you asked for."]
        }
    }

    /// The tool call's arguments as a JSON object (an empty object if they do not parse).
    var toolArguments: JSONValue {
        guard let call = self.toolCall, let value = try? JSONValue(parsing: call.arguments.utf8), case .object = value else { return [:] }
        return value
    }

    static func words(in text: String) -> [Substring] {
        text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" })
    }

    /// The text of a message: a string, or the text parts of a content array.
    static func text(of message: JSONValue) -> String {
        switch message["content"] {
        case .string(let text): return text
        case .array(let parts): return parts.compactMap { $0["text"]?.stringValue }.joined(separator: " ")
        default: return ""
        }
    }

    static func chosenTool(_ request: JSONValue) -> (name: String, parameters: JSONValue?)? {
        guard let tools = request["tools"]?.arrayValue, !tools.isEmpty else { return nil }
        if request["tool_choice"]?.stringValue == "none" { return nil }
        let functions = tools.compactMap { tool -> (String, JSONValue?)? in
            guard let function = tool["function"], let name = function["name"]?.stringValue else { return nil }
            return (name, function["parameters"])
        }
        if let wanted = request["tool_choice"]?["function"]?["name"]?.stringValue {
            return functions.first { $0.0 == wanted }
        }
        return functions.first
    }

    /// A JSON object with every required property set to a placeholder of its type (for the
    /// OpenAI `parameters`, Anthropic `input_schema` and Gemini `parameters` schemas alike).
    static func arguments(for schema: JSONValue?) -> String {
        let required = schema?["required"]?.arrayValue?.compactMap(\.stringValue) ?? []
        let properties = schema?["properties"]
        let fields = required.map { name -> String in
            let value: String =
                // Lowercased: Gemini schemas spell the types `STRING`, `INTEGER`, ….
                switch properties?[name]?["type"]?.stringValue?.lowercased() {
                case "integer", "number": "1"
                case "boolean": "true"
                case "array": "[]"
                case "object": "{}"
                default: "\"mock\""
                }
            return "\"\(Self.escape(name))\":\(value)"
        }
        return "{" + fields.joined(separator: ",") + "}"
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
    }

    /// FNV-1a: stable across runs and platforms (unlike `hashValue`).
    static func stableHash(_ text: String) -> UInt64 {
        text.utf8.reduce(0xcbf2_9ce4_8422_2325 as UInt64) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
    }
}
