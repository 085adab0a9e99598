import SwitchyardCore
import Synchronization

/// Counts the requests the mock provider received, by wire format and by upstream model, so
/// tests can assert how many upstream attempts a router made.
///
/// Every request to a model endpoint counts once, on arrival, whether it is then answered,
/// refused (bad key, bad body) or faulted. Over HTTP: `GET /mock/stats` answers
/// `{"requests":{"openai":n,"anthropic":n,"gemini":n,"embeddings":n},"by_model":{"<model>":n}}`
/// and `POST /mock/stats/reset` sets everything back to zero (`204`).
public final class MockStats: Sendable {
    /// The wire format a request arrived in. Embeddings (OpenAI's and Gemini's) count together.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// `POST /v1/chat/completions`
        case openai
        /// `POST /v1/messages`
        case anthropic
        /// `POST /v1beta/models/{model}:generateContent` and `:streamGenerateContent`
        case gemini
        /// `POST /v1/embeddings`, `:embedContent` and `:batchEmbedContents`
        case embeddings
    }

    public struct Snapshot: Sendable, Hashable {
        /// Requests per wire format; formats with none are absent.
        public var requests: [Kind: Int]
        /// Requests per upstream model name exactly as sent (directives such as `fault-500:`
        /// included); requests without a readable model are not counted here.
        public var byModel: [String: Int]

        public init(requests: [Kind: Int] = [:], byModel: [String: Int] = [:]) {
            self.requests = requests
            self.byModel = byModel
        }

        /// The number of requests that arrived in `kind`'s format.
        public func count(_ kind: Kind) -> Int { self.requests[kind] ?? 0 }
    }

    private let state = Mutex(Snapshot())

    public init() {}

    /// Counts one request; returns how many of `kind` arrived so far, this one included (the
    /// mock numbers its message ids with it).
    @discardableResult
    func record(_ kind: Kind, model: String?) -> Int {
        self.state.withLock { state -> Int in
            state.requests[kind, default: 0] += 1
            if let model { state.byModel[model, default: 0] += 1 }
            return state.requests[kind] ?? 0
        }
    }

    public func snapshot() -> Snapshot {
        self.state.withLock { $0 }
    }

    public func reset() {
        self.state.withLock { $0 = Snapshot() }
    }

    /// The `GET /mock/stats` body; every format is listed, with zero when none arrived.
    func json() -> JSONValue {
        let snapshot = self.snapshot()
        var requests: [String: JSONValue] = [:]
        for kind in Kind.allCases { requests[kind.rawValue] = .int(Int64(snapshot.count(kind))) }
        return ["requests": .object(requests), "by_model": .object(snapshot.byModel.mapValues { JSONValue.int(Int64($0)) })]
    }
}
