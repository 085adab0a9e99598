import SwitchyardCore

/// Small facts about Anthropic's Messages wire format shared by both translation directions.
enum AnthropicWire {
    /// OpenAI's `finish_reason` for an Anthropic `stop_reason`.
    ///
    /// `pause_turn` (a server tool paused a long turn) has no OpenAI counterpart; the turn did end
    /// for the client, so it is reported as `stop`. A missing reason is also `stop`.
    static func finishReason(_ stopReason: String?) -> String {
        switch stopReason ?? "" {
        case "max_tokens", "model_context_window_exceeded": "length"
        case "tool_use": "tool_calls"
        case "refusal": "content_filter"
        default: "stop"  // end_turn, stop_sequence, pause_turn
        }
    }

    /// Anthropic's `stop_reason` for an OpenAI `finish_reason`.
    static func stopReason(_ finishReason: String?) -> String {
        switch finishReason ?? "" {
        case "length": "max_tokens"
        case "tool_calls", "function_call": "tool_use"
        case "content_filter": "refusal"
        default: "end_turn"  // stop, or none given
        }
    }

    /// A token count from an upstream, kept in 0...1e9 (upstreams are not trusted to send sane numbers).
    static func count(_ value: JSONValue?) -> Int64 {
        min(max(value?.intValue ?? 0, 0), 1_000_000_000)
    }

    /// The media type and base64 payload of a `data:<type>;base64,<data>` URL.
    static func dataURL(_ url: String) -> (mediaType: String, data: String)? {
        guard url.hasPrefix("data:"), let comma = url.firstIndex(of: ",") else { return nil }
        let header = url[url.index(url.startIndex, offsetBy: 5)..<comma]
        guard header.hasSuffix(";base64") else { return nil }
        let mediaType = header.prefix(while: { $0 != ";" })
        guard !mediaType.isEmpty else { return nil }
        return (String(mediaType), String(url[url.index(after: comma)...]))
    }

    /// Whether `url` is an absolute http(s) URL a provider can fetch itself.
    static func isWebURL(_ url: String) -> Bool {
        url.hasPrefix("https://") || url.hasPrefix("http://")
    }

    /// Tool input as OpenAI's `arguments` string: compact JSON with sorted keys.
    static func argumentsText(_ input: JSONValue?) -> String {
        guard let input, !input.isNull else { return "{}" }
        return String(decoding: input.serialized(sortedKeys: true), as: UTF8.self)
    }

    /// One server-sent event: `event: <name>\ndata: <json>\n\n`. Keys are sorted so the bytes are
    /// the same on every run.
    static func event(_ name: String, _ data: JSONValue) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(128)
        bytes.append(contentsOf: "event: ".utf8)
        bytes.append(contentsOf: name.utf8)
        bytes.append(contentsOf: "\ndata: ".utf8)
        data.write(into: &bytes, sortedKeys: true)
        bytes.append(contentsOf: "\n\n".utf8)
        return bytes
    }
}
