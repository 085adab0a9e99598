import AsyncHTTPClient
import HTTPTypes
import Hummingbird
import NIOCore
import SwitchyardCore
import SwitchyardProviders

/// Streams an upstream answer to the client as server-sent events: raw when both sides speak
/// OpenAI, else decoded into canonical chunks and re-encoded in the client's format.
extension Executor {
    /// Turns upstream bytes into client events.
    struct StreamPipe {
        var passthrough: SSERelay?
        var splitter = SSEEventSplitter()
        var decoder: UpstreamStreamDecoder
        var encoder: ClientStreamEncoder
        private(set) var usage: Usage?

        /// Client events for `buffer`. Throws `TranslationError` on an upstream error event.
        mutating func feed(_ buffer: ByteBuffer) throws(TranslationError) -> [[UInt8]] {
            if var relay = self.passthrough {
                defer { self.passthrough = relay }
                let events = relay.feed(buffer)
                self.usage = relay.usage
                return events
            }
            var out: [[UInt8]] = []
            for event in self.splitter.append(buffer.readableBytesView) { out += try self.translate(event) }
            return out
        }

        private mutating func translate(_ event: SSEEvent) throws(TranslationError) -> [[UInt8]] {
            var out: [[UInt8]] = []
            for chunk in try self.decoder.decode(event) {
                if let usage = Usage(completion: chunk) { self.usage = usage }
                out += self.encoder.encode(chunk)
            }
            return out
        }

        var pendingBytes: Int { self.passthrough?.pendingBytes ?? self.splitter.pendingByteCount }

        /// After a clean upstream end: the remaining events, or `nil` when the upstream never
        /// said its answer was complete.
        mutating func finish() -> [[UInt8]]? {
            if var relay = self.passthrough {
                defer { self.passthrough = relay }
                let tail = relay.finish()
                self.usage = relay.usage
                return relay.sawDone ? tail : nil
            }
            var out: [[UInt8]] = []
            if let tail = self.splitter.finish() { out += (try? self.translate(tail)) ?? [] }
            for chunk in self.decoder.finish() {
                if let usage = Usage(completion: chunk) { self.usage = usage }
                out += self.encoder.encode(chunk)
            }
            guard self.decoder.isComplete else { return nil }
            return out + self.encoder.finish()
        }
    }

    /// Waits until the upstream produced the first client event (so a silent, failing or
    /// erroring upstream still falls back), then relays events as they arrive, each gap bounded
    /// by `idle`.
    func relayStream(
        _ response: HTTPClientResponse,
        attempt: AttemptPlan.Attempt,
        decision: DecisionHeaders,
        firstTokenDeadline: ContinuousClock.Instant,
        idle: Duration,
        totalDeadline: ContinuousClock.Instant
    ) async throws -> Response {
        guard case .chat(let chat, let format) = self.operation else { throw AttemptFailure.unsupported("only chat streams") }
        let upstream = UpstreamBody(response.body)
        var pipe = StreamPipe(
            passthrough: self.passesThrough(attempt) ? SSERelay(includeUsage: chat.includeUsage) : nil,
            decoder: UpstreamStreamDecoder(kind: attempt.provider.kind, model: attempt.model.upstreamModel, id: "chatcmpl-" + self.traceID),
            encoder: ClientStreamEncoder(format: format, includeUsage: chat.includeUsage, alias: self.alias, messageID: "msg_" + self.traceID)
        )
        var first: [[UInt8]] = []
        while first.isEmpty {
            guard let chunk = try await withDeadline(firstTokenDeadline, { try await upstream.next() }) else {
                throw AttemptFailure.interrupted("stream ended before its first event")
            }
            do {
                first = try pipe.feed(chunk)
            } catch {
                throw AttemptFailure.interrupted("the provider's stream failed before any output: \(TranslationError.describe(error))")
            }
            if pipe.pendingBytes > SSERelay.maxEventBytes { throw AttemptFailure.interrupted("the first event is too large") }
        }
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        decision.apply(to: &headers)
        let metrics = self.proxy.metrics
        let resilience = self.proxy.resilience
        let breaker = Resilience.breakerKey(attempt)
        let route = self.plan.label
        let model = attempt.model.name
        let provider = attempt.provider.name
        let start = first
        return Response(
            status: .ok,
            headers: headers,
            body: ResponseBody { [pipe] (writer: inout any ResponseBodyWriter) in
                var pipe = pipe
                for event in start { try await writer.write(ByteBuffer(bytes: event)) }
                var failure: String?
                while true {
                    let deadline = min(ContinuousClock.now + idle, totalDeadline)
                    let chunk: ByteBuffer?
                    do {
                        chunk = try await withDeadline(deadline) { try await upstream.next() }
                    } catch is DeadlineExceeded {
                        failure =
                            deadline == totalDeadline
                            ? "the route's total timeout expired mid-stream" : "the upstream went silent for longer than the route's idle timeout"
                        break
                    } catch {
                        failure = "the upstream connection failed mid-stream"
                        break
                    }
                    guard let chunk else { break }
                    let events: [[UInt8]]
                    do {
                        events = try pipe.feed(chunk)
                    } catch {
                        failure = "the provider reported an error mid-stream: \(TranslationError.describe(error))"
                        break
                    }
                    for event in events { try await writer.write(ByteBuffer(bytes: event)) }
                    if pipe.pendingBytes > SSERelay.maxEventBytes {
                        failure = "the upstream sent an event larger than \(SSERelay.maxEventBytes) bytes"
                        break
                    }
                }
                // An unterminated last event is relayed on a clean end only; after a failure it is
                // a fragment, and the error event must start on a line of its own.
                if failure == nil {
                    if let tail = pipe.finish() {
                        for event in tail { try await writer.write(ByteBuffer(bytes: event)) }
                    } else {
                        failure = "the upstream ended the stream before its answer was complete"
                    }
                }
                if let failure {
                    // Once bytes reached the client there is no fallback: say what happened, in-band.
                    try await writer.write(ByteBuffer(bytes: pipe.encoder.errorEvent(failure)))
                    resilience.record(breaker, healthy: false)
                }
                if let usage = pipe.usage { metrics.tokens(route: route, model: model, usage: usage) }
                metrics.attempt(provider: provider, model: model, outcome: failure == nil ? "ok" : "interrupted_mid_stream")
                try await writer.finish(nil)
            }
        )
    }
}
