/// One server-sent event as it appeared on the wire.
public struct SSEEvent: Sendable, Hashable {
    /// The event's bytes, including the blank line that ended it, to relay unchanged.
    public var raw: [UInt8]
    /// The `data:` lines joined with `\n`.
    public var data: String
    /// The `event:` field, if any.
    public var event: String?

    /// `data: [DONE]`, OpenAI's end-of-stream marker.
    public var isDone: Bool { self.data == "[DONE]" }
}

/// Splits a byte stream into server-sent events, however the bytes are chunked.
/// Events end at a blank line (`\n\n` or `\r\n\r\n`).
public struct SSEEventSplitter: Sendable {
    private var buffer: [UInt8] = []
    private var scanFrom = 0

    public init() {}

    /// Bytes received that do not yet form a whole event.
    public var pendingByteCount: Int { self.buffer.count }

    /// Feeds bytes and returns the events they complete.
    public mutating func append(_ bytes: some Sequence<UInt8>) -> [SSEEvent] {
        self.buffer.append(contentsOf: bytes)
        var events: [SSEEvent] = []
        var start = 0
        var index = max(self.scanFrom, 0)
        while index < self.buffer.count {
            if self.buffer[index] == UInt8(ascii: "\n") {
                var end: Int?
                if index + 1 < self.buffer.count, self.buffer[index + 1] == UInt8(ascii: "\n") {
                    end = index + 2
                } else if index + 2 < self.buffer.count, self.buffer[index + 1] == UInt8(ascii: "\r"),
                    self.buffer[index + 2] == UInt8(ascii: "\n")
                {
                    end = index + 3
                }
                if let end, end > start {
                    events.append(Self.parse(Array(self.buffer[start..<end])))
                    start = end
                    index = end
                    continue
                }
            }
            index += 1
        }
        if start > 0 { self.buffer.removeFirst(start) }
        // Re-scan the last two bytes next time: a boundary may straddle two chunks.
        self.scanFrom = max(self.buffer.count - 2, 0)
        return events
    }

    /// Whatever is left when the stream ends without a final blank line.
    public mutating func finish() -> SSEEvent? {
        defer {
            self.buffer.removeAll()
            self.scanFrom = 0
        }
        let trimmed = self.buffer.filter { $0 != UInt8(ascii: "\n") && $0 != UInt8(ascii: "\r") }
        return trimmed.isEmpty ? nil : Self.parse(self.buffer)
    }

    static func parse(_ raw: [UInt8]) -> SSEEvent {
        var dataLines: [Substring] = []
        var eventName: String?
        let text = String(decoding: raw, as: UTF8.self)
        for line in text.split(omittingEmptySubsequences: true, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }) {
            if line.hasPrefix(":") { continue }
            let (field, value) = Self.field(line)
            switch field {
            case "data": dataLines.append(value)
            case "event": eventName = String(value)
            default: break
            }
        }
        return SSEEvent(raw: raw, data: dataLines.joined(separator: "\n"), event: eventName)
    }

    private static func field(_ line: Substring) -> (Substring, Substring) {
        guard let colon = line.firstIndex(of: ":") else { return (line, "") }
        var value = line[line.index(after: colon)...]
        if value.first == " " { value = value.dropFirst() }
        return (line[..<colon], value)
    }
}
