/// One revision of a route as its author wrote it: ordered rules (first match wins), a required
/// default branch, the fallback chain, timeouts and the retry policy.
///
/// The same type is parsed from the admin API, stored as JSON, carried in snapshots and evaluated
/// on nodes, so what is validated is exactly what runs. The JSON form is documented in
/// `docs/route-spec.schema.json`.
public struct RouteSpec: Sendable, Hashable {
    public static let maxRules = 64
    public static let maxConditions = 256
    public static let maxConditionDepth = 8
    public static let maxVariants = 16
    public static let maxWeight = 1_000_000

    public var rules: [Rule]
    public var defaultBranch: Branch
    public var fallbacks: [Target]
    public var timeouts: Timeouts
    public var retry: RetryPolicy
    /// The canary on the default branch, as compiled into snapshots (never in stored revisions):
    /// nodes count its variants' requests and bad events by it.
    public var canary: CanaryTag?

    public init(
        rules: [Rule] = [],
        defaultBranch: Branch,
        fallbacks: [Target] = [],
        timeouts: Timeouts = Timeouts(),
        retry: RetryPolicy = RetryPolicy()
    ) {
        self.rules = rules
        self.defaultBranch = defaultBranch
        self.fallbacks = fallbacks
        self.timeouts = timeouts
        self.retry = retry
    }

    /// Every prompt reference of the revision, each once, in first-use order.
    public var promptRefs: [PromptRef] {
        var seen = Set<PromptRef>()
        let targets = self.rules.flatMap(\.then.targets) + self.defaultBranch.targets + self.fallbacks
        return targets.compactMap(\.prompt).filter { seen.insert($0).inserted }
    }

    /// Every model the revision references, each once, in first-use order.
    public var models: [String] {
        var seen = Set<String>()
        var result: [String] = []
        let targets = self.rules.flatMap(\.then.targets) + self.defaultBranch.targets + self.fallbacks
        for target in targets where seen.insert(target.model).inserted { result.append(target.model) }
        return result
    }
}

/// `when` a condition holds, send the request to `then`.
public struct Rule: Sendable, Hashable {
    public var name: String
    public var when: Condition
    public var then: Branch

    public init(name: String, when: Condition, then: Branch) {
        self.name = name
        self.when = when
        self.then = then
    }
}

/// Where a matched request goes: one frozen target, or a sticky weighted split.
public enum Branch: Sendable, Hashable {
    case target(Target)
    case split([Variant])

    public var targets: [Target] {
        switch self {
        case .target(let target): [target]
        case .split(let variants): variants.map(\.target)
        }
    }
}

/// One arm of a weighted split.
public struct Variant: Sendable, Hashable {
    /// Shown in `x-switchyard-variant` and metrics; defaults to the model name.
    public var name: String
    public var weight: Int
    public var target: Target

    public init(name: String, weight: Int, target: Target) {
        self.name = name
        self.weight = weight
        self.target = target
    }
}

/// A catalog model plus the request parameters the route forces on it.
public struct Target: Sendable, Hashable {
    /// The parameters a target may override, with their allowed ranges.
    public static let overridableParameters: [String: ClosedRange<Double>] = [
        "temperature": 0...2,
        "top_p": 0...1,
        "max_tokens": 1...10_000_000,
        "max_completion_tokens": 1...10_000_000,
        "presence_penalty": -2...2,
        "frequency_penalty": -2...2,
        "seed": -9_007_199_254_740_991...9_007_199_254_740_991,
    ]
    static let integerParameters: Set<String> = ["max_tokens", "max_completion_tokens", "seed"]

    public var model: String
    /// Parameter overrides, applied over what the client sent.
    public var params: [String: JSONValue]
    /// The prompt version this target renders (`name@version` or `name@label`). A fallback
    /// without one renders the primary target's prompt, in the variant for its own model.
    public var prompt: PromptRef?

    public init(model: String, params: [String: JSONValue] = [:], prompt: PromptRef? = nil) {
        self.model = model
        self.params = params
        self.prompt = prompt
    }
}

/// A route's reference to a prompt: a pinned version (`support@3`) or a label (`support@production`)
/// that the control plane resolves when it compiles a snapshot, so moving a label is a config change.
public struct PromptRef: Sendable, Hashable, CustomStringConvertible {
    public enum Selector: Sendable, Hashable {
        case version(Int)
        case label(String)
    }

    public var name: String
    public var selector: Selector

    public init(name: String, selector: Selector) {
        self.name = name
        self.selector = selector
    }

    /// Parses `name@3` or `name@label`; nil when malformed.
    public init?(_ text: String) {
        let parts = text.split(separator: "@", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2, Names.isValidObjectName(parts[0]) else { return nil }
        if let version = Int(parts[1]) {
            guard version > 0, parts[1].first != "0" else { return nil }
            self.init(name: parts[0], selector: .version(version))
        } else {
            guard Self.isValidLabel(parts[1]) else { return nil }
            self.init(name: parts[0], selector: .label(parts[1]))
        }
    }

    /// A label: 1-32 lower-case letters, digits, `_` or `-`, starting with a letter.
    public static func isValidLabel(_ label: String) -> Bool {
        guard let first = label.utf8.first, label.utf8.count <= 32, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first) else {
            return false
        }
        return label.utf8.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
        }
    }

    /// `3` or `production`.
    public var selectorText: String {
        switch self.selector {
        case .version(let version): String(version)
        case .label(let label): label
        }
    }

    public var description: String { "\(self.name)@\(self.selectorText)" }
}

/// A predicate over the request's facts.
public indirect enum Condition: Sendable, Hashable {
    case all([Condition])
    case any([Condition])
    case not(Condition)
    case match(Fact, Operator, JSONValue)

    public enum Operator: String, Sendable, Hashable, CaseIterable {
        case eq, `in`, prefix, exists, lt, gt
    }
}

/// A fact a condition can test. See ``RequestFacts`` for where each comes from.
public enum Fact: Sendable, Hashable {
    case tag
    case user
    case region
    case stream
    case tools
    case promptTokens
    case keyID
    case keyName
    case header(String)
    case metadata(String)
    case tenantLabel(String)
    case keyLabel(String)

    static let simple: [String: Fact] = [
        "tag": .tag, "user": .user, "region": .region, "stream": .stream, "tools": .tools,
        "prompt_tokens": .promptTokens, "key.id": .keyID, "key.name": .keyName,
    ]
    static let prefixed: [(prefix: String, make: @Sendable (String) -> Fact)] = [
        ("header.", { .header($0) }), ("metadata.", { .metadata($0) }),
        ("tenant.labels.", { .tenantLabel($0) }), ("key.labels.", { .keyLabel($0) }),
    ]

    public init?(name: String) {
        if let fact = Self.simple[name] {
            self = fact
            return
        }
        for entry in Self.prefixed where name.hasPrefix(entry.prefix) {
            let rest = String(name.dropFirst(entry.prefix.count))
            guard Names.isValidLabelKey(rest) else { return nil }
            // Header names are case-insensitive; keep them lower-case.
            self = entry.prefix == "header." ? entry.make(rest.lowercased()) : entry.make(rest)
            return
        }
        return nil
    }

    public var name: String {
        switch self {
        case .tag: "tag"
        case .user: "user"
        case .region: "region"
        case .stream: "stream"
        case .tools: "tools"
        case .promptTokens: "prompt_tokens"
        case .keyID: "key.id"
        case .keyName: "key.name"
        case .header(let name): "header.\(name)"
        case .metadata(let name): "metadata.\(name)"
        case .tenantLabel(let name): "tenant.labels.\(name)"
        case .keyLabel(let name): "key.labels.\(name)"
        }
    }

    enum Kind { case string, number, boolean }

    var kind: Kind {
        switch self {
        case .stream, .tools: .boolean
        case .promptTokens: .number
        default: .string
        }
    }
}

/// Time limits of one upstream attempt. (The connect timeout is the node's, see
/// `--upstream-connect-timeout-ms`: one HTTP client pool serves every route.)
public struct Timeouts: Sendable, Hashable {
    public static let defaultFirstTokenMs = 30_000
    public static let defaultIdleMs = 30_000
    public static let defaultTotalMs = 120_000
    public static let maximumMs = 600_000

    /// Streaming: until the upstream's first event (response head included). A complete
    /// (non-streaming) answer arrives whole, so only `totalMs` bounds it.
    public var firstTokenMs: Int
    /// Streaming: the longest silence allowed between two chunks.
    public var idleMs: Int
    /// The whole attempt, body included.
    public var totalMs: Int
    /// The whole request: every attempt, retry and backoff. When it runs out the client gets a
    /// clean error (or, mid-stream, an error event), whatever is left in the plan.
    public var requestMs: Int

    public static let maximumRequestMs = 1_800_000

    /// The default request bound: room for one full fallback after a timed-out attempt.
    public static func defaultRequestMs(totalMs: Int) -> Int {
        max(totalMs, min(Self.maximumRequestMs, 2 * totalMs))
    }

    public init(
        firstTokenMs: Int = Timeouts.defaultFirstTokenMs,
        idleMs: Int = Timeouts.defaultIdleMs,
        totalMs: Int = Timeouts.defaultTotalMs,
        requestMs: Int? = nil
    ) {
        self.firstTokenMs = firstTokenMs
        self.idleMs = idleMs
        self.totalMs = totalMs
        self.requestMs = requestMs ?? Self.defaultRequestMs(totalMs: totalMs)
    }
}

/// Retries of the same target before the fallback chain moves on, bounded per target by a budget.
public struct RetryPolicy: Sendable, Hashable {
    /// Retries of one target within one request (0 = fall back at once).
    public var maxRetries: Int
    public var initialBackoffMs: Int
    public var maxBackoffMs: Int
    /// Retries may be at most this fraction of the target's requests in the last 10-20 seconds
    /// (two 10-second buckets)…
    public var budgetRatio: Double
    /// …plus this many per window, so a quiet route can still retry.
    public var budgetMinRetries: Int

    public init(maxRetries: Int = 1, initialBackoffMs: Int = 100, maxBackoffMs: Int = 2_000, budgetRatio: Double = 0.2, budgetMinRetries: Int = 3) {
        self.maxRetries = maxRetries
        self.initialBackoffMs = initialBackoffMs
        self.maxBackoffMs = maxBackoffMs
        self.budgetRatio = budgetRatio
        self.budgetMinRetries = budgetMinRetries
    }
}
