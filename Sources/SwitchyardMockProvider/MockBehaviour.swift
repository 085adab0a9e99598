import Foundation
public import SwitchyardCore

/// What the mock provider will do with one request, derived only from the request, so tests
/// and benchmarks are deterministic.
///
/// Directives come from the `x-mock-fault` / `x-mock-token-latency-ms` headers or, so that they
/// survive a router in between, from the upstream model name: `fault-500`, `fault-429`,
/// `fault-400`, `fault-hang`, `fault-cut`, `fault-reset`, `latency-<ms>`, joined with `:`
/// (e.g. `latency-200:my-model`).
public struct MockBehaviour: Sendable, Hashable {
    public enum Fault: String, Sendable, Hashable, CaseIterable {
        case status500 = "500"
        case status429 = "429"
        case status400 = "400"
        case status401 = "401"
        case hang
        case cut
        case reset
    }

    public var fault: Fault?
    public var tokenLatencyMs: Int

    public init(model: String, faultHeader: String?, latencyHeader: String?, defaultLatencyMs: Int) {
        var fault = faultHeader.flatMap(Fault.init(rawValue:))
        var latency = latencyHeader.flatMap(Int.init) ?? defaultLatencyMs
        for directive in model.split(separator: ":") {
            if directive.hasPrefix("fault-"), fault == nil {
                fault = Fault(rawValue: String(directive.dropFirst("fault-".count)))
            } else if directive.hasPrefix("latency-"), latencyHeader == nil, let ms = Int(directive.dropFirst("latency-".count)) {
                latency = ms
            }
        }
        self.fault = fault
        self.tokenLatencyMs = max(0, min(latency, 60_000))
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

    public init(request: JSONValue) {
        let messages = request["messages"]?.arrayValue ?? []
        self.promptTokens = max(1, messages.reduce(0) { $0 + Self.words(in: Self.text(of: $1)).count })
        let last = messages.last
        let lastText = last.map(Self.text(of:)) ?? ""
        if let tool = Self.chosenTool(request), last?["role"]?.stringValue != "tool" {
            let arguments = Self.arguments(for: tool.parameters)
            self.toolCall = ToolCall(id: "call_" + String(Self.stableHash(tool.name + lastText), radix: 36), name: tool.name, arguments: arguments)
            // Split the arguments into a few fragments for streaming.
            let characters = Array(arguments)
            let size = max(1, (characters.count + 2) / 3)
            self.tokens = stride(from: 0, to: characters.count, by: size).map { String(characters[$0..<min($0 + size, characters.count)]) }
            return
        }
        self.toolCall = nil
        let reply: String
        if last?["role"]?.stringValue == "tool" {
            reply = "mock summary of tool result: " + lastText
        } else {
            reply = "mock reply to: " + lastText
        }
        let words = Self.words(in: reply)
        self.tokens = words.enumerated().map { $0.offset == 0 ? String($0.element) : " " + $0.element }
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

    /// A JSON object with every required property set to a placeholder of its type.
    static func arguments(for schema: JSONValue?) -> String {
        let required = schema?["required"]?.arrayValue?.compactMap(\.stringValue) ?? []
        let properties = schema?["properties"]
        let fields = required.map { name -> String in
            let value: String =
                switch properties?[name]?["type"]?.stringValue {
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
