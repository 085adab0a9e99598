import HTTPTypes

/// The explainability headers every data-plane response carries.
struct DecisionHeaders: Sendable {
    static let traceID = HTTPField.Name("x-switchyard-trace-id")!
    static let route = HTTPField.Name("x-switchyard-route")!
    static let revision = HTTPField.Name("x-switchyard-revision")!
    static let model = HTTPField.Name("x-switchyard-model")!
    static let provider = HTTPField.Name("x-switchyard-provider")!
    static let attempts = HTTPField.Name("x-switchyard-attempts")!
    static let fallbackReasons = HTTPField.Name("x-switchyard-fallback-reasons")!
    static let rule = HTTPField.Name("x-switchyard-rule")!
    static let variant = HTTPField.Name("x-switchyard-variant")!
    static let prompt = HTTPField.Name("x-switchyard-prompt")!

    var traceID: String
    var route = ""
    var revision = ""
    var model = ""
    var provider = ""
    /// The route rule that matched (`default` when none did) and the chosen variant.
    var rule = ""
    var variant = ""
    /// The prompt version rendered for the attempt that answered (`name@version`).
    var prompt = ""
    var attempts = 0
    /// Why earlier attempts were abandoned, e.g. `gpt-4o:status_500`.
    var failures: [String] = []
    /// An answer failed the prompt's response schema (counted by canary guardrails).
    var invalidOutput = false

    init(traceID: String) { self.traceID = traceID }

    func apply(to fields: inout HTTPFields) {
        fields[Self.traceID] = self.traceID
        fields[Self.route] = self.route
        fields[Self.revision] = self.revision
        fields[Self.model] = self.model
        fields[Self.provider] = self.provider
        fields[Self.attempts] = String(self.attempts)
        if !self.rule.isEmpty { fields[Self.rule] = self.rule }
        if !self.variant.isEmpty { fields[Self.variant] = self.variant }
        if !self.prompt.isEmpty { fields[Self.prompt] = self.prompt }
        if !self.failures.isEmpty { fields[Self.fallbackReasons] = self.failures.joined(separator: ", ") }
    }

    /// A new random trace id (128 bits, hex).
    static func makeTraceID() -> String {
        var generator = SystemRandomNumberGenerator()
        let high = generator.next() as UInt64
        let low = generator.next() as UInt64
        return hex(high) + hex(low)
    }

    private static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
