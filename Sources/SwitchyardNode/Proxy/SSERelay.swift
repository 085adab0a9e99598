import AsyncHTTPClient
import Foundation
public import NIOCore
public import SwitchyardCore

/// The upstream body iterator, handed between the task that waits for the first chunk and the
/// response writer. Used by one task at a time, never concurrently.
final class UpstreamBody: @unchecked Sendable {
    private var iterator: HTTPClientResponse.Body.AsyncIterator

    init(_ body: HTTPClientResponse.Body) {
        self.iterator = body.makeAsyncIterator()
    }

    func next() async throws -> ByteBuffer? {
        try await self.iterator.next()
    }
}

/// Splits an upstream SSE stream into events, notes usage, and drops the usage-only chunk when
/// the client did not ask for it (the node always asks upstream, to account for every request).
public struct SSERelay: Sendable {
    /// The largest event the node buffers; a longer one ends the stream with an error.
    static let maxEventBytes = 1 << 20

    let includeUsage: Bool
    private var splitter = SSEEventSplitter()
    public private(set) var usage: Usage?
    private(set) var sawDone = false
    /// Whether a chunk with part of the answer went by (see `JSONValue.carriesOutput`). Until
    /// then each event is inspected, so an upstream that opens with an error can still fail over.
    private(set) var sawOutput = false
    /// An error event the upstream sent before any output.
    private(set) var failure: String?

    public init(includeUsage: Bool) { self.includeUsage = includeUsage }

    public mutating func feed(_ buffer: ByteBuffer) -> [[UInt8]] {
        self.filter(self.splitter.append(buffer.readableBytesView))
    }

    /// Bytes of an event that has not ended yet.
    var pendingBytes: Int { self.splitter.pendingByteCount }

    /// The last event when the stream ended without its blank line, terminated properly.
    public mutating func finish() -> [[UInt8]] {
        guard var tail = self.splitter.finish() else { return [] }
        while tail.raw.last == UInt8(ascii: "\n") || tail.raw.last == UInt8(ascii: "\r") { tail.raw.removeLast() }
        tail.raw += Array("\n\n".utf8)
        return self.filter([tail])
    }

    private mutating func filter(_ events: [SSEEvent]) -> [[UInt8]] {
        var out: [[UInt8]] = []
        out.reserveCapacity(events.count)
        for event in events {
            if event.isDone {
                self.sawDone = true
                self.sawOutput = true
            } else if !self.sawOutput, !event.data.isEmpty, let json = try? JSONValue(parsing: event.data.utf8) {
                if case .object = json["error"] ?? .null {
                    self.failure = json["error"]?["message"]?.stringValue ?? "the provider sent an error event"
                    return out
                }
                self.sawOutput = json.carriesOutput
                if let usage = Usage(completion: json) {
                    self.usage = usage
                    if json.isUsageOnlyChunk, !self.includeUsage { continue }
                }
            } else if event.data.containsBytes("\"usage\""), !Self.hasNullUsage(event.data),
                let json = try? JSONValue(parsing: event.data.utf8),
                let usage = Usage(completion: json)
            {
                self.usage = usage
                if json.isUsageOnlyChunk, !self.includeUsage { continue }
            }
            out.append(event.raw)
        }
        return out
    }

    /// `"usage":null` as OpenAI writes it, or with a space as Python servers do: nothing to parse.
    static func hasNullUsage(_ data: String) -> Bool {
        data.containsBytes("\"usage\":null") || data.containsBytes("\"usage\": null")
    }

    static func errorEvent(_ message: String) -> [UInt8] {
        let error = APIError(status: 502, type: "upstream_error", code: "stream_interrupted", message: message)
        return Array("data: ".utf8) + error.json.serialized() + Array("\n\n".utf8)
    }
}
