/// A canary of a route: a candidate target rolled out in steps over the route's default branch,
/// judged by guardrails against the baseline (docs/canary.md).
public struct CanarySpec: Sendable, Hashable {
    public struct Step: Sendable, Hashable {
        /// The candidate's share of the default branch's traffic, in percent (0.01 to 100).
        public var percent: Double
        /// The step lasts at least this long…
        public var minDurationSeconds: Int
        /// …and until the candidate served at least this many requests in it.
        public var minRequests: Int

        public init(percent: Double, minDurationSeconds: Int = 60, minRequests: Int = 100) {
            self.percent = percent
            self.minDurationSeconds = minDurationSeconds
            self.minRequests = minRequests
        }
    }

    /// What makes a request "bad" for a guardrail.
    public enum GuardrailKind: String, Sendable, Hashable, CaseIterable {
        /// The variant's own target did not answer (a transport failure, 5xx, 429, timeout),
        /// whether or not a fallback then saved the request.
        case error
        /// The whole request took longer than `bound_ms`.
        case latency
        /// The first token (or, without streaming, the answer) came later than `bound_ms`.
        case firstToken = "first_token"
        /// The answer failed the prompt's response schema or tool arguments.
        case invalidOutput = "invalid_output"
        /// Feedback with a negative score or label (`POST /v1/feedback`).
        case negativeFeedback = "negative_feedback"
        /// The request cost more than `bound_usd`.
        case cost
    }

    public struct Guardrail: Sendable, Hashable {
        public var kind: GuardrailKind
        public var boundMs: Int?
        public var boundMicros: Int64?
        /// How much worse than the baseline is tolerated: 0.2 accepts a bad-event rate up to
        /// 1.2 times the baseline's.
        public var tolerance: Double

        public init(kind: GuardrailKind, boundMs: Int? = nil, boundMicros: Int64? = nil, tolerance: Double = 0.2) {
            self.kind = kind
            self.boundMs = boundMs
            self.boundMicros = boundMicros
            self.tolerance = tolerance
        }
    }

    public var candidate: Target
    public var steps: [Step]
    public var guardrails: [Guardrail]
    /// The chance of rolling back a candidate no worse than tolerated, over the whole rollout and
    /// all guardrails together.
    public var alpha: Double

    public static let defaultSteps = [1.0, 5, 25, 50, 100].map { Step(percent: $0) }
    public static let defaultGuardrails = [Guardrail(kind: .error)]
    public static let maxSteps = 20
    public static let fields: Set<String> = ["candidate", "steps", "guardrails", "alpha"]

    public init(candidate: Target, steps: [Step] = Self.defaultSteps, guardrails: [Guardrail] = Self.defaultGuardrails, alpha: Double = 0.05) {
        self.candidate = candidate
        self.steps = steps
        self.guardrails = guardrails
        self.alpha = alpha
    }

    /// Parses the admin API's form: `{"candidate": {"model", "params", "prompt"}, "steps":
    /// [{"percent", "min_duration_s", "min_requests"}], "guardrails": [{"kind", "bound_ms",
    /// "bound_usd", "tolerance"}], "alpha"}`.
    public init(json: JSONValue) throws(FieldError) {
        let reader = try FieldReader(json, allowed: Self.fields)
        guard let candidate = reader.value("candidate") else {
            throw .invalid("candidate", "is required: the target to roll out, e.g. {\"model\": \"gpt-4.1\"}")
        }
        self.candidate = try Target(parsing: candidate, path: "candidate")
        self.alpha = try reader.number("alpha", in: 0.000_001...0.5) ?? 0.05
        if let list = try reader.array("steps") {
            guard !list.isEmpty, list.count <= Self.maxSteps else { throw .invalid("steps", "must list 1 to \(Self.maxSteps) steps") }
            var steps: [Step] = []
            for (index, value) in list.enumerated() {
                let step = try FieldReader(value, path: "steps[\(index)]", allowed: ["percent", "min_duration_s", "min_requests"])
                guard let percent = try step.number("percent", in: 0.01...100) else {
                    throw .invalid(step.field("percent"), "is required: the candidate's share in percent, 0.01 to 100")
                }
                if let previous = steps.last, percent <= previous.percent {
                    throw .invalid(step.field("percent"), "must be larger than the step before (\(previous.percent))")
                }
                steps.append(
                    Step(
                        percent: (percent * 100).rounded() / 100,
                        minDurationSeconds: try step.integer("min_duration_s", in: 0...604_800) ?? 60,
                        minRequests: try step.integer("min_requests", in: 0...100_000_000) ?? 100
                    )
                )
            }
            self.steps = steps
        } else {
            self.steps = Self.defaultSteps
        }
        if let list = try reader.array("guardrails") {
            guard !list.isEmpty, list.count <= GuardrailKind.allCases.count * 2 else {
                throw .invalid("guardrails", "must list 1 to \(GuardrailKind.allCases.count * 2) guardrails")
            }
            var guardrails: [Guardrail] = []
            for (index, value) in list.enumerated() {
                let entry = try FieldReader(value, path: "guardrails[\(index)]", allowed: ["kind", "bound_ms", "bound_usd", "tolerance"])
                let text = try entry.requiredString("kind")
                guard let kind = GuardrailKind(rawValue: text) else {
                    throw .invalid(entry.field("kind"), "must be one of \(GuardrailKind.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                var guardrail = Guardrail(kind: kind, tolerance: try entry.number("tolerance", in: 0...100) ?? 0.2)
                switch kind {
                case .latency, .firstToken:
                    guard let bound = try entry.integer("bound_ms", in: 1...3_600_000) else {
                        throw .invalid(entry.field("bound_ms"), "is required for a \(kind.rawValue) guardrail (milliseconds)")
                    }
                    guardrail.boundMs = bound
                case .cost:
                    guard let bound = try entry.number("bound_usd", in: 0.000_001...1_000_000) else {
                        throw .invalid(entry.field("bound_usd"), "is required for a cost guardrail (USD per request)")
                    }
                    guardrail.boundMicros = BudgetConfig.micros(bound)
                default:
                    if entry.value("bound_ms") != nil {
                        throw .invalid(entry.field("bound_ms"), "only latency and first_token guardrails take a bound")
                    }
                    if entry.value("bound_usd") != nil { throw .invalid(entry.field("bound_usd"), "only cost guardrails take bound_usd") }
                }
                guard !guardrails.contains(guardrail) else { throw .invalid(entry.field("kind"), "duplicate guardrail") }
                guardrails.append(guardrail)
            }
            self.guardrails = guardrails
        } else {
            self.guardrails = Self.defaultGuardrails
        }
    }

    public var json: JSONValue {
        [
            "candidate": self.candidate.json,
            "steps": .array(
                self.steps.map { step in
                    [
                        "percent": .double(step.percent), "min_duration_s": .int(Int64(step.minDurationSeconds)),
                        "min_requests": .int(Int64(step.minRequests)),
                    ]
                }
            ),
            "guardrails": .array(
                self.guardrails.map { guardrail in
                    var object: [String: JSONValue] = ["kind": .string(guardrail.kind.rawValue), "tolerance": .double(guardrail.tolerance)]
                    if let bound = guardrail.boundMs { object["bound_ms"] = .int(Int64(bound)) }
                    if let bound = guardrail.boundMicros { object["bound_usd"] = .double(BudgetConfig.usd(bound)) }
                    return .object(object)
                }
            ),
            "alpha": .double(self.alpha),
        ]
    }
}

/// Where a canary stands.
public enum CanaryState: String, Sendable, Hashable, CaseIterable {
    /// Created, no traffic yet.
    case pending
    /// Serving its current step; the control plane advances or rolls it back.
    case running
    /// Holding its current step (by hand, or because the evidence was inconclusive).
    case paused
    /// Done: the candidate became the route's default (a new route revision).
    case promoted
    /// Done: a guardrail found the candidate worse; it gets no traffic.
    case rolledBack = "rolled_back"
    /// Done: stopped by hand; it gets no traffic.
    case aborted

    /// Whether the canary still owns its route (one per route at a time).
    public var isActive: Bool { self == .pending || self == .running || self == .paused }
}

extension RouteSpec {
    /// The variant name the candidate gets in the route's default split.
    public static let candidateVariant = "candidate"
    /// The variant name of a single-target baseline.
    public static let baselineVariant = "baseline"
    /// Split weights of a canary are in millionths, so a step can be as small as 0.0001 %.
    static let canaryScale = 1_000_000

    /// This spec with `candidate` on `percent` of the default branch: a single default target
    /// becomes the variant `baseline`, a split keeps its variants at their relative weights.
    /// Nil when the split has no room for one more variant.
    public func withCanary(_ candidate: Target, percent: Double, tag: CanaryTag? = nil) -> RouteSpec? {
        let candidateWeight = Int((max(0, min(percent, 100)) * Double(Self.canaryScale) / 100).rounded())
        let rest = Self.canaryScale - candidateWeight
        var variants: [Variant]
        switch self.defaultBranch {
        case .target(let target):
            variants = [Variant(name: Self.baselineVariant, weight: rest, target: target)]
        case .split(let existing):
            guard existing.count < Self.maxVariants, !existing.contains(where: { $0.name == Self.candidateVariant }) else { return nil }
            let total = existing.reduce(0) { $0 + $1.weight }
            variants = existing.map { variant in
                Variant(
                    name: variant.name,
                    weight: total > 0 ? Int((Double(variant.weight) * Double(rest) / Double(total)).rounded()) : 0,
                    target: variant.target
                )
            }
        }
        variants.append(Variant(name: Self.candidateVariant, weight: candidateWeight, target: candidate))
        var spec = self
        spec.defaultBranch = .split(variants)
        spec.canary = tag
        return spec
    }
}

/// What a node needs to count a canary: its id, its step, and its guardrails (in order: the
/// node reports one bad-event count per guardrail).
public struct CanaryTag: Sendable, Hashable {
    public var id: Int64
    public var step: Int
    public var guardrails: [CanarySpec.Guardrail]

    public init(id: Int64, step: Int, guardrails: [CanarySpec.Guardrail]) {
        self.id = id
        self.step = step
        self.guardrails = guardrails
    }

    init(json: JSONValue) throws(FieldError) {
        let reader = try FieldReader(json, path: "canary", allowed: ["id", "step", "guardrails"])
        guard let id = try reader.integer("id", in: 1...Int.max), let step = try reader.integer("step", in: 0...CanarySpec.maxSteps) else {
            throw .invalid("canary", "needs id and step")
        }
        var guardrails: [CanarySpec.Guardrail] = []
        for (index, value) in (try reader.array("guardrails") ?? []).enumerated() {
            let entry = try FieldReader(value, path: "canary.guardrails[\(index)]", allowed: ["kind", "bound_ms", "bound_usd", "tolerance"])
            guard let kind = CanarySpec.GuardrailKind(rawValue: try entry.requiredString("kind")) else {
                throw .invalid(entry.field("kind"), "is not a guardrail this node knows")
            }
            guardrails.append(
                CanarySpec.Guardrail(
                    kind: kind,
                    boundMs: try entry.integer("bound_ms", in: 1...3_600_000),
                    boundMicros: try entry.number("bound_usd", in: 0...1_000_000).map(BudgetConfig.micros),
                    tolerance: try entry.number("tolerance", in: 0...100) ?? 0
                )
            )
        }
        self.init(id: Int64(id), step: step, guardrails: guardrails)
    }

    var json: JSONValue {
        [
            "id": .int(self.id), "step": .int(Int64(self.step)),
            "guardrails": CanarySpec(candidate: Target(model: "-"), guardrails: self.guardrails).json["guardrails"] ?? [],
        ]
    }
}
