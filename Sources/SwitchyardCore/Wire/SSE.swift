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

    /// Reads the fields of one event from its bytes (no per-character string work: this runs
    /// for every event of every stream).
    static func parse(_ raw: [UInt8]) -> SSEEvent {
        var data: [UInt8] = []
        var dataLines = 0
        var eventName: String?
        raw.withUnsafeBufferPointer { bytes in
            var lineStart = 0
            while lineStart < bytes.count {
                var lineEnd = lineStart
                while lineEnd < bytes.count, bytes[lineEnd] != UInt8(ascii: "\n"), bytes[lineEnd] != UInt8(ascii: "\r") { lineEnd += 1 }
                let line = UnsafeBufferPointer(rebasing: bytes[lineStart..<lineEnd])
                lineStart = lineEnd + 1
                guard !line.isEmpty, line[0] != UInt8(ascii: ":") else { continue }
                let colon = line.firstIndex(of: UInt8(ascii: ":")) ?? line.count
                let name = UnsafeBufferPointer(rebasing: line[0..<colon])
                var valueStart = min(colon + 1, line.count)
                if valueStart < line.count, line[valueStart] == UInt8(ascii: " ") { valueStart += 1 }
                let value = line[valueStart...]
                if name.elementsEqual("data".utf8) {
                    if dataLines > 0 { data.append(UInt8(ascii: "\n")) }
                    data.append(contentsOf: value)
                    dataLines += 1
                } else if name.elementsEqual("event".utf8) {
                    eventName = String(decoding: value, as: UTF8.self)
                }
            }
        }
        return SSEEvent(raw: raw, data: String(decoding: data, as: UTF8.self), event: eventName)
    }
}

extension StringProtocol {
    /// Whether `needle` occurs in the text, compared byte by byte (the standard `contains`
    /// compares characters, which is several times slower on the per-event path).
    public func containsBytes(_ needle: String) -> Bool {
        let needle = Array(needle.utf8)
        guard let first = needle.first else { return true }
        let found: Bool? = self.utf8.withContiguousStorageIfAvailable { bytes in
            guard bytes.count >= needle.count else { return false }
            var index = 0
            while index <= bytes.count - needle.count {
                if bytes[index] == first, needle.indices.allSatisfy({ bytes[index + $0] == needle[$0] }) { return true }
                index += 1
            }
            return false
        }
        return found ?? self.contains(String(decoding: needle, as: UTF8.self))
    }
}
