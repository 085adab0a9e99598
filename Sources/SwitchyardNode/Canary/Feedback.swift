import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SwitchyardCore
import Synchronization

/// Which canary step and arm served a request, carried in its trace id so that feedback sent to
/// any node later can be attributed: the trace id's last 10 bytes are the canary id (8 bytes), the
/// step (1 byte) and a marker byte (0xC0 for the baseline, 0xC1 for the candidate). Trace ids stay
/// 32 lower-case hex digits (W3C-compatible); the first 6 bytes stay random.
enum CanaryTrace {
    static func encode(_ traceID: String, canary: Int64, step: Int, candidate: Bool) -> String {
        func hex(_ value: UInt64, bytes: Int) -> String {
            let digits = String(value, radix: 16)
            return String(repeating: "0", count: max(0, bytes * 2 - digits.count)) + digits
        }
        return String(traceID.prefix(12)) + hex(UInt64(bitPattern: canary), bytes: 8) + hex(UInt64(max(0, min(step, 255))), bytes: 1)
            + (candidate ? "c1" : "c0")
    }

    static func decode(_ traceID: String) -> (canary: Int64, step: Int, candidate: Bool)? {
        guard traceID.utf8.count == 32, traceID.allSatisfy(\.isHexDigit) else { return nil }
        let text = traceID.lowercased()
        let marker = text.suffix(2)
        guard marker == "c0" || marker == "c1" else { return nil }
        let body = text.dropFirst(12)
        guard let canary = UInt64(body.prefix(16), radix: 16), let step = Int(body.dropFirst(16).prefix(2), radix: 16), canary > 0 else {
            return nil
        }
        return (Int64(bitPattern: canary), step, marker == "c1")
    }
}

extension ChatProxy {
    /// `POST /v1/feedback`: `{"trace_id": "…", "score": -1…1}` or `{"trace_id": "…", "label":
    /// "negative"|"positive"|…}` for a response this tenant received. Negative feedback on a
    /// canary's response counts for its `negative_feedback` guardrail, attributed to the variant
    /// that served it; other feedback is accepted and not counted.
    func feedback(_ request: Request, context: some RequestContext) async -> Response {
        let decision = DecisionHeaders(traceID: DecisionHeaders.makeTraceID())
        do {
            guard let snapshot = self.state.loaded else { throw APIError.notReady }
            let key = try Self.authenticate(request, table: snapshot.table)
            var request = request
            let buffer = try await request.collectBody(upTo: 64 * 1024)
            guard let json = try? JSONValue(parsing: buffer.readableBytesView), case .object(let body) = json else {
                throw APIError.invalidRequest("The body must be a JSON object with 'trace_id' and 'score' or 'label'.")
            }
            for field in body.keys where !["trace_id", "score", "label", "comment"].contains(field) {
                throw APIError.invalidRequest("Unknown field '\(field)'.", param: field)
            }
            guard let traceID = body["trace_id"]?.stringValue, traceID.utf8.count == 32, traceID.allSatisfy(\.isHexDigit) else {
                throw APIError.invalidRequest("'trace_id' must be the 32-hex-digit x-switchyard-trace-id of a response.", param: "trace_id")
            }
            let negative: Bool
            if let score = body["score"] {
                let number: Double? =
                    switch score {
                    case .int(let value): Double(value)
                    case .double(let value): value
                    default: nil
                    }
                guard let value = number, (-1...1).contains(value), body["label"] == nil else {
                    throw APIError.invalidRequest("'score' must be a number from -1 to 1 (and comes without 'label').", param: "score")
                }
                negative = value < 0
            } else if let label = body["label"] {
                guard let text = label.stringValue, !text.isEmpty, text.utf8.count <= 64 else {
                    throw APIError.invalidRequest("'label' must be a short string, e.g. \"negative\" or \"positive\".", param: "label")
                }
                negative = ["negative", "bad", "thumbs_down", "down", "wrong", "unhelpful"].contains(text.lowercased())
            } else {
                throw APIError.invalidRequest("Give 'score' (-1 to 1) or 'label'.", param: "score")
            }
            if let comment = body["comment"], (comment.stringValue?.utf8.count ?? .max) > 4_096 {
                throw APIError.invalidRequest("'comment' must be a string of at most 4096 bytes.", param: "comment")
            }
            var attributed = false
            if let origin = CanaryTrace.decode(traceID), let tenant = snapshot.table.tenants[key.tenant],
                let route = tenant.routes.values.first(where: { $0.spec.canary?.id == origin.canary }),
                let tag = route.spec.canary, let index = tag.guardrails.firstIndex(where: { $0.kind == .negativeFeedback })
            {
                attributed = true
                if negative {
                    self.canaries.recordFeedback(
                        CanaryCounters.Key(
                            tenant: key.tenant,
                            route: route.alias,
                            canary: origin.canary,
                            step: origin.step,
                            candidate: origin.candidate
                        ),
                        guardrail: index,
                        of: tag.guardrails.count
                    )
                }
            }
            return Response(
                status: .accepted,
                headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(bytes: JSONValue.object(["accepted": true, "attributed": .bool(attributed)]).serialized()))
            )
        } catch let error as APIError {
            return Self.errorResponse(error, decision: decision)
        } catch {
            return Self.errorResponse(APIError.invalidRequest("The body could not be read."), decision: decision)
        }
    }
}

extension CanaryCounters {
    /// Negative feedback for a request of `key`: one more bad event of guardrail `index`.
    func recordFeedback(_ key: Key, guardrail index: Int, of count: Int) {
        self.counts.withLock { counts in
            var entry = counts[key] ?? Counts(bad: Array(repeating: 0, count: count))
            if entry.bad.count != count { entry.bad = Array(repeating: 0, count: count) }
            entry.bad[index] += 1
            counts[key] = entry
        }
    }
}
