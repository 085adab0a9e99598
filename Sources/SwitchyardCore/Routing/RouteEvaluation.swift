/// What the rules of a route can see about a request.
///
/// Built by the node for each request (and by `simulate` from a described request). Values that
/// cost something to compute (the prompt-token estimate, headers) are read only when a
/// condition asks for them.
public struct RequestFacts {
    /// `x-switchyard-tag` header, else the body's `metadata.tag`.
    public var tag: String?
    /// The body's `user`.
    public var user: String?
    /// The region of the node serving the request (`--region`).
    public var region: String?
    public var stream: Bool
    /// Whether the body has a non-empty `tools` list.
    public var tools: Bool
    public var keyID: String
    public var keyName: String
    public var tenantLabels: [String: String]
    public var keyLabels: [String: String]
    /// String values of the body's `metadata` object.
    public var metadata: [String: String]
    /// `x-switchyard-sticky` header, else `user`, else the key id.
    public var stickyKey: String
    /// A request header by lower-case name.
    public var header: (String) -> String?
    /// The prompt-token estimate (see ``ChatRequest/estimatedPromptTokens``).
    public var promptTokens: () -> Int

    public init(
        tag: String? = nil,
        user: String? = nil,
        region: String? = nil,
        stream: Bool = false,
        tools: Bool = false,
        keyID: String = "",
        keyName: String = "",
        tenantLabels: [String: String] = [:],
        keyLabels: [String: String] = [:],
        metadata: [String: String] = [:],
        stickyKey: String? = nil,
        header: @escaping (String) -> String? = { _ in nil },
        promptTokens: @escaping () -> Int = { 0 }
    ) {
        self.tag = tag
        self.user = user
        self.region = region
        self.stream = stream
        self.tools = tools
        self.keyID = keyID
        self.keyName = keyName
        self.tenantLabels = tenantLabels
        self.keyLabels = keyLabels
        self.metadata = metadata
        self.stickyKey = stickyKey ?? user ?? keyID
        self.header = header
        self.promptTokens = promptTokens
    }

    /// The fact's value: a string, a number or a boolean, or `nil` when the request lacks it.
    func value(of fact: Fact) -> JSONValue? {
        switch fact {
        case .tag: self.tag.map(JSONValue.string)
        case .user: self.user.map(JSONValue.string)
        case .region: self.region.map(JSONValue.string)
        case .stream: .bool(self.stream)
        case .tools: .bool(self.tools)
        case .promptTokens: .int(Int64(self.promptTokens()))
        case .keyID: .string(self.keyID)
        case .keyName: .string(self.keyName)
        case .header(let name): self.header(name).map(JSONValue.string)
        case .metadata(let name): self.metadata[name].map(JSONValue.string)
        case .tenantLabel(let name): self.tenantLabels[name].map(JSONValue.string)
        case .keyLabel(let name): self.keyLabels[name].map(JSONValue.string)
        }
    }
}

extension Condition {
    /// Whether the request satisfies the condition. A missing fact satisfies only `not` of a
    /// test on it; `exists` is false for a missing or `false` boolean fact.
    public func matches(_ facts: RequestFacts) -> Bool {
        switch self {
        case .all(let conditions): return conditions.allSatisfy { $0.matches(facts) }
        case .any(let conditions): return conditions.contains { $0.matches(facts) }
        case .not(let condition): return !condition.matches(facts)
        case .match(let fact, let op, let operand):
            guard let value = facts.value(of: fact) else { return false }
            switch op {
            case .exists:
                if case .bool(let flag) = value { return flag }
                return true
            case .eq: return Self.equal(value, operand)
            case .in: return operand.arrayValue?.contains { Self.equal(value, $0) } ?? false
            case .prefix:
                guard let text = value.stringValue, let prefix = operand.stringValue else { return false }
                return text.hasPrefix(prefix)
            case .lt, .gt:
                guard let number = Self.number(value), let bound = Self.number(operand) else { return false }
                return op == .lt ? number < bound : number > bound
            }
        }
    }

    static func equal(_ value: JSONValue, _ operand: JSONValue) -> Bool {
        if let left = Self.number(value), let right = Self.number(operand), value.stringValue == nil { return left == right }
        return value == operand
    }

    /// A number, also from text (a header such as `x-priority: 5`).
    static func number(_ value: JSONValue) -> Double? {
        switch value {
        case .int(let number): Double(number)
        case .double(let number): number
        case .string(let text): Double(text)
        default: nil
        }
    }
}

/// Which branch a route sent a request to, and why.
public struct RouteDecision: Sendable, Hashable {
    /// The matched rule's name, or `default`.
    public var rule: String
    /// The split variant's name, or the target's model for a frozen branch.
    public var variant: String
    public var target: Target
    /// For a split: the point the sticky key hashed to, and the total weight.
    public var bucket: (point: Int, total: Int)?
    /// Rules tried before the match, in order, each with whether it matched.
    public var evaluated: [(rule: String, matched: Bool)]

    public static func == (lhs: RouteDecision, rhs: RouteDecision) -> Bool {
        lhs.rule == rhs.rule && lhs.variant == rhs.variant && lhs.target == rhs.target
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.rule)
        hasher.combine(self.variant)
    }
}

extension RouteSpec {
    /// Evaluates the rules in order (first match wins), then picks the variant of the branch.
    /// `routeKey` (tenant and alias) salts the sticky hash, so two routes split independently.
    public func decide(_ facts: RequestFacts, routeKey: String) -> RouteDecision {
        var evaluated: [(rule: String, matched: Bool)] = []
        for rule in self.rules {
            let matched = rule.when.matches(facts)
            evaluated.append((rule.name, matched))
            if matched {
                return Self.pick(rule.then, rule: rule.name, facts: facts, routeKey: routeKey, evaluated: evaluated)
            }
        }
        return Self.pick(self.defaultBranch, rule: "default", facts: facts, routeKey: routeKey, evaluated: evaluated)
    }

    static func pick(
        _ branch: Branch,
        rule: String,
        facts: RequestFacts,
        routeKey: String,
        evaluated: [(rule: String, matched: Bool)]
    )
        -> RouteDecision
    {
        switch branch {
        case .target(let target):
            return RouteDecision(rule: rule, variant: target.model, target: target, bucket: nil, evaluated: evaluated)
        case .split(let variants):
            let total = variants.reduce(0) { $0 + $1.weight }
            let point = Int(StickyHash.hash("\(routeKey)#\(rule)", facts.stickyKey) % UInt64(max(total, 1)))
            var upper = 0
            var chosen = variants[variants.count - 1]
            for variant in variants {
                upper += variant.weight
                if point < upper {
                    chosen = variant
                    break
                }
            }
            return RouteDecision(rule: rule, variant: chosen.name, target: chosen.target, bucket: (point, total), evaluated: evaluated)
        }
    }
}

/// A stable 64-bit hash (FNV-1a, then a SplitMix64 finish for even spread), identical on every
/// node and across restarts, unlike Swift's seeded `Hasher`.
public enum StickyHash {
    public static func hash(_ salt: String, _ key: String) -> UInt64 {
        var state: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in salt.utf8 {
            state ^= UInt64(byte)
            state &*= 0x0000_0100_0000_01b3
        }
        state ^= 0xff
        state &*= 0x0000_0100_0000_01b3
        for byte in key.utf8 {
            state ^= UInt64(byte)
            state &*= 0x0000_0100_0000_01b3
        }
        state ^= state >> 30
        state &*= 0xbf58_476d_1ce4_e5b9
        state ^= state >> 27
        state &*= 0x94d0_49bb_1331_11eb
        state ^= state >> 31
        return state
    }
}

extension RequestFacts {
    public static let tagHeader = "x-switchyard-tag"
    public static let stickyHeader = "x-switchyard-sticky"

    /// The facts of a chat request, as both the node and `simulate` derive them.
    /// `header` looks a request header up by lower-case name.
    public init(
        chat: ChatRequest,
        header: @escaping (String) -> String?,
        key: APIKeyConfig?,
        tenantLabels: [String: String],
        region: String?
    ) {
        let metadata = chat.metadata
        let user = chat.user
        let keyID = key?.id ?? ""
        let sticky = Self.stickyHeader(header)
        self.init(
            tag: header(Self.tagHeader) ?? metadata["tag"],
            user: user,
            region: region,
            stream: chat.stream,
            tools: chat.hasTools,
            keyID: keyID,
            keyName: key?.name ?? "",
            tenantLabels: tenantLabels,
            keyLabels: key?.labels ?? [:],
            metadata: metadata,
            stickyKey: sticky,
            header: header,
            promptTokens: PromptTokenMemo(chat).value
        )
    }

    /// The `x-switchyard-sticky` header, when present and not empty.
    public static func stickyHeader(_ header: (String) -> String?) -> String? {
        header(Self.stickyHeader).flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Where the sticky key came from: `header`, `user` or `key`.
    public static func stickySource(chat: ChatRequest, header: (String) -> String?) -> String {
        if Self.stickyHeader(header) != nil { return "header" }
        return chat.user != nil ? "user" : "key"
    }
}

/// Computes a request's prompt-token estimate at most once, however many conditions read it.
final class PromptTokenMemo {
    let chat: ChatRequest
    var cached: Int?

    init(_ chat: ChatRequest) { self.chat = chat }

    func value() -> Int {
        if let cached { return cached }
        let value = self.chat.estimatedPromptTokens
        self.cached = value
        return value
    }
}
