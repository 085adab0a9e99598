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
        private var translatedOutput = false

        init(passthrough: SSERelay?, decoder: UpstreamStreamDecoder, encoder: ClientStreamEncoder) {
            self.passthrough = passthrough
            self.decoder = decoder
            self.encoder = encoder
        }

        /// Whether part of the answer went by; before that the attempt may still fall back.
        var sawOutput: Bool { self.passthrough?.sawOutput ?? self.translatedOutput }

        /// Client events for `buffer`, and the upstream's error if it reported one (the events
        /// before the error are still returned).
        mutating func feed(_ buffer: ByteBuffer) -> (events: [[UInt8]], failure: String?) {
            if var relay = self.passthrough {
                defer { self.passthrough = relay }
                let events = relay.feed(buffer)
                self.usage = relay.usage
                return (events, relay.failure)
            }
            var out: [[UInt8]] = []
            for event in self.splitter.append(buffer.readableBytesView) {
                do {
                    out += try self.translate(event)
                } catch {
                    return (out, TranslationError.describe(error))
                }
            }
            return (out, nil)
        }

        private mutating func translate(_ event: SSEEvent) throws(TranslationError) -> [[UInt8]] {
            var out: [[UInt8]] = []
            for chunk in try self.decoder.decode(event) {
                if let usage = Usage(completion: chunk) { self.usage = usage }
                if !self.translatedOutput, chunk.carriesOutput { self.translatedOutput = true }
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
            if let tail = self.splitter.finish() {
                do {
                    out += try self.translate(tail)
                } catch {
                    return nil
                }
            }
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
        // Nothing is sent until the upstream produced part of the answer: a role-only opening,
        // comments or an error event before it still fall back.
        var first: [[UInt8]] = []
        while !pipe.sawOutput {
            guard let chunk = try await withDeadline(firstTokenDeadline, { try await upstream.next() }) else {
                throw AttemptFailure.interrupted("stream ended before any output")
            }
            let (events, failure) = pipe.feed(chunk)
            if let failure { throw AttemptFailure.interrupted("the provider's stream failed before any output: \(failure)") }
            first += events
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
        let settlement = self.settlement
        settlement?.handOffToStream()
        let servingModel = attempt.model
        return Response(
            status: .ok,
            headers: headers,
            body: ResponseBody { [pipe] (writer: inout any ResponseBodyWriter) in
                var pipe = pipe
                var failure: String?
                var clientGone = false
                do {
                    for event in start { try await writer.write(ByteBuffer(bytes: event)) }
                    while true {
                        let deadline = min(ContinuousClock.now + idle, totalDeadline)
                        let chunk: ByteBuffer?
                        do {
                            chunk = try await withDeadline(deadline) { try await upstream.next() }
                        } catch is DeadlineExceeded {
                            failure =
                                deadline == totalDeadline
                                ? "the route's time limit expired mid-stream" : "the upstream went silent for longer than the route's idle timeout"
                            break
                        } catch {
                            failure = "the upstream connection failed mid-stream"
                            break
                        }
                        guard let chunk else { break }
                        let (events, error) = pipe.feed(chunk)
                        for event in events { try await writer.write(ByteBuffer(bytes: event)) }
                        if let error {
                            failure = "the provider reported an error mid-stream: \(error)"
                            break
                        }
                        if pipe.pendingBytes > SSERelay.maxEventBytes {
                            failure = "the upstream sent an event larger than \(SSERelay.maxEventBytes) bytes"
                            break
                        }
                    }
                    // An unterminated last event is relayed on a clean end only; after a failure it
                    // is a fragment, and the error event must start on a line of its own.
                    if failure == nil {
                        if let tail = pipe.finish() {
                            for event in tail { try await writer.write(ByteBuffer(bytes: event)) }
                        } else {
                            failure = "the upstream ended the stream before its answer was complete"
                        }
                    }
                    // Once bytes reached the client there is no fallback: say what happened, in-band.
                    if let failure { try await writer.write(ByteBuffer(bytes: pipe.encoder.errorEvent(failure))) }
                    try await writer.finish(nil)
                } catch {
                    // The client went away; dropping the upstream iterator releases the upstream.
                    clientGone = true
                }
                // Accounted on every exit: the provider bills the tokens either way.
                if failure != nil { resilience.record(breaker, healthy: false) }
                if let usage = pipe.usage { metrics.tokens(route: route, model: model, usage: usage) }
                settlement?.answered(by: servingModel, usage: pipe.usage)
                settlement?.finish()
                let outcome = clientGone ? "client_closed" : failure == nil ? "ok" : "interrupted_mid_stream"
                metrics.attempt(provider: provider, model: model, outcome: outcome)
            }
        )
    }
}
