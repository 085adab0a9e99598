// The JSON form of a route spec: parsed with a field path in every error, written in one
// canonical form (defaults spelled out), so equal specs give equal bytes.

extension RouteSpec {
    public static let fields: Set<String> = ["rules", "default", "fallbacks", "timeouts", "retry"]

    /// Parses and validates a spec. `reader` may hold more fields than the spec's (e.g. `alias`,
    /// `comment` in the admin API); the caller has checked them.
    public init(reading reader: FieldReader, maxFallbacks: Int = SnapshotLimits().maxFallbacks) throws(FieldError) {
        guard let defaultValue = reader.value("default") else {
            throw .invalid(
                reader.field("default"),
                "is required: the branch every request takes when no rule matches, e.g. {\"model\": \"gpt-4o-mini\"}"
            )
        }
        self.defaultBranch = try Branch(parsing: defaultValue, path: reader.field("default"))

        let ruleValues = try reader.array("rules") ?? []
        guard ruleValues.count <= Self.maxRules else { throw .invalid(reader.field("rules"), "at most \(Self.maxRules) rules are allowed") }
        var names = Set<String>()
        var conditionCount = 0
        self.rules = []
        for (index, value) in ruleValues.enumerated() {
            let path = "\(reader.field("rules"))[\(index)]"
            let rule = try FieldReader(value, path: path, allowed: ["name", "when", "then"])
            let name = try rule.requiredString("name")
            guard Names.isValidObjectName(name), name != "default" else {
                throw .invalid(rule.field("name"), "must be 1-128 letters, digits or '._:-', starting with a letter or digit, and not 'default'")
            }
            guard names.insert(name).inserted else { throw .invalid(rule.field("name"), "duplicate rule name '\(name)'") }
            guard let when = rule.value("when") else { throw .invalid(rule.field("when"), "is required: the condition of the rule") }
            guard let then = rule.value("then") else { throw .invalid(rule.field("then"), "is required: a target or a split") }
            let condition = try Condition(parsing: when, path: rule.field("when"), depth: 1, count: &conditionCount)
            self.rules.append(Rule(name: name, when: condition, then: try Branch(parsing: then, path: rule.field("then"))))
        }

        let fallbackValues = try reader.array("fallbacks") ?? []
        guard fallbackValues.count <= maxFallbacks else {
            throw .invalid(reader.field("fallbacks"), "at most \(maxFallbacks) fallbacks are allowed")
        }
        self.fallbacks = []
        for (index, value) in fallbackValues.enumerated() {
            self.fallbacks.append(try Target(parsing: value, path: "\(reader.field("fallbacks"))[\(index)]"))
        }

        self.timeouts = Timeouts()
        if let timeouts = try reader.object("timeouts", allowed: ["first_token_ms", "idle_ms", "total_ms", "request_ms"]) {
            let range = 1...Timeouts.maximumMs
            self.timeouts.firstTokenMs = try timeouts.integer("first_token_ms", in: range) ?? self.timeouts.firstTokenMs
            self.timeouts.idleMs = try timeouts.integer("idle_ms", in: range) ?? self.timeouts.idleMs
            self.timeouts.totalMs = try timeouts.integer("total_ms", in: range) ?? self.timeouts.totalMs
            self.timeouts.requestMs =
                try timeouts.integer("request_ms", in: 1...Timeouts.maximumRequestMs)
                ?? Timeouts.defaultRequestMs(totalMs: self.timeouts.totalMs)
        }

        self.retry = RetryPolicy()
        if let retry = try reader.object(
            "retry",
            allowed: ["max_retries", "initial_backoff_ms", "max_backoff_ms", "budget_ratio", "budget_min_retries"]
        ) {
            self.retry.maxRetries = try retry.integer("max_retries", in: 0...5) ?? self.retry.maxRetries
            self.retry.initialBackoffMs = try retry.integer("initial_backoff_ms", in: 1...60_000) ?? self.retry.initialBackoffMs
            self.retry.maxBackoffMs = try retry.integer("max_backoff_ms", in: 1...60_000) ?? self.retry.maxBackoffMs
            self.retry.budgetRatio = try retry.number("budget_ratio", in: 0...1) ?? self.retry.budgetRatio
            self.retry.budgetMinRetries = try retry.integer("budget_min_retries", in: 0...1_000) ?? self.retry.budgetMinRetries
            guard self.retry.maxBackoffMs >= self.retry.initialBackoffMs else {
                throw .invalid(retry.field("max_backoff_ms"), "must be at least initial_backoff_ms")
            }
        }
    }

    /// Parses a spec document on its own (a snapshot's route, a stored revision).
    public init(json: JSONValue) throws(FieldError) {
        let reader = try FieldReader(json, allowed: Self.fields.union(["canary"]))
        try self.init(reading: reader, maxFallbacks: Int.max)
        if let tag = reader.value("canary") { self.canary = try CanaryTag(json: tag) }
    }

    /// The canonical JSON form, every default spelled out.
    public var json: JSONValue {
        var object: [String: JSONValue] = [
            "default": self.defaultBranch.json,
            "fallbacks": .array(self.fallbacks.map(\.json)),
            "timeouts": [
                "first_token_ms": .int(Int64(self.timeouts.firstTokenMs)),
                "idle_ms": .int(Int64(self.timeouts.idleMs)),
                "total_ms": .int(Int64(self.timeouts.totalMs)),
                "request_ms": .int(Int64(self.timeouts.requestMs)),
            ],
            "retry": [
                "max_retries": .int(Int64(self.retry.maxRetries)),
                "initial_backoff_ms": .int(Int64(self.retry.initialBackoffMs)),
                "max_backoff_ms": .int(Int64(self.retry.maxBackoffMs)),
                "budget_ratio": .double(self.retry.budgetRatio),
                "budget_min_retries": .int(Int64(self.retry.budgetMinRetries)),
            ],
        ]
        object["rules"] = .array(
            self.rules.map { rule in ["name": .string(rule.name), "when": rule.when.json, "then": rule.then.json] }
        )
        if let canary = self.canary { object["canary"] = canary.json }
        return .object(object)
    }
}

extension Branch {
    init(parsing value: JSONValue, path: String) throws(FieldError) {
        guard case .object(let fields) = value else { throw .invalid(path, "must be a target object or a split, not \(value.typeName)") }
        guard fields["split"] != nil else {
            self = .target(try Target(parsing: value, path: path))
            return
        }
        let reader = try FieldReader(value, path: path, allowed: ["split"])
        guard let entries = try reader.array("split"), !entries.isEmpty else {
            throw .invalid(reader.field("split"), "must list at least one weighted target")
        }
        guard entries.count <= RouteSpec.maxVariants else {
            throw .invalid(reader.field("split"), "at most \(RouteSpec.maxVariants) variants are allowed")
        }
        var variants: [Variant] = []
        var names = Set<String>()
        var total = 0
        for (index, entry) in entries.enumerated() {
            let entryPath = "\(reader.field("split"))[\(index)]"
            let fields = try FieldReader(entry, path: entryPath, allowed: ["model", "params", "prompt", "weight", "variant"])
            let target = try Target(reading: fields)
            guard let weight = try fields.integer("weight", in: 0...RouteSpec.maxWeight) else {
                throw .invalid(fields.field("weight"), "is required: a whole number from 0 to \(RouteSpec.maxWeight)")
            }
            let name = try fields.string("variant") ?? target.model
            guard Names.isValidObjectName(name) else {
                throw .invalid(fields.field("variant"), "must be 1-128 letters, digits or '._:-', starting with a letter or digit")
            }
            guard names.insert(name).inserted else {
                throw .invalid(
                    fields.value("variant") == nil ? fields.field("model") : fields.field("variant"),
                    "duplicate variant '\(name)': give variants of the same model distinct 'variant' names"
                )
            }
            total += weight
            variants.append(Variant(name: name, weight: weight, target: target))
        }
        guard total > 0 else { throw .invalid(reader.field("split"), "the weights must not all be 0") }
        self = .split(variants)
    }

    var json: JSONValue {
        switch self {
        case .target(let target):
            return target.json
        case .split(let variants):
            return [
                "split": .array(
                    variants.map { variant in
                        var object = variant.target.json.objectValue ?? [:]
                        object["weight"] = .int(Int64(variant.weight))
                        object["variant"] = .string(variant.name)
                        return .object(object)
                    }
                )
            ]
        }
    }
}

extension Target {
    init(parsing value: JSONValue, path: String) throws(FieldError) {
        try self.init(reading: try FieldReader(value, path: path, allowed: ["model", "params", "prompt"]))
    }

    init(reading reader: FieldReader) throws(FieldError) {
        let model = try reader.requiredString("model")
        guard Names.isValidObjectName(model) else {
            throw .invalid(reader.field("model"), "must be a model name: 1-128 letters, digits or '._:-', starting with a letter or digit")
        }
        var params: [String: JSONValue] = [:]
        if let values = try reader.object("params", allowed: Set(Self.overridableParameters.keys).union(["stop"])) {
            for (name, value) in values.fields.sorted(by: { $0.key < $1.key }) where !value.isNull {
                if name == "stop" {
                    params[name] = try Self.stop(value, path: values.field(name))
                    continue
                }
                guard let range = Self.overridableParameters[name], let number = try values.number(name, in: range) else { continue }
                if Self.integerParameters.contains(name) {
                    guard number == number.rounded() else { throw .invalid(values.field(name), "must be a whole number") }
                    params[name] = .int(Int64(number))
                } else {
                    params[name] = .double(number)
                }
            }
        }
        var prompt: PromptRef?
        if let text = try reader.string("prompt") {
            guard let ref = PromptRef(text) else {
                throw .invalid(
                    reader.field("prompt"),
                    "must be 'name@version' (e.g. support@3) or 'name@label' (e.g. support@production; labels are lower-case, starting with a letter)"
                )
            }
            prompt = ref
        }
        self.init(model: model, params: params, prompt: prompt)
    }

    static func stop(_ value: JSONValue, path: String) throws(FieldError) -> JSONValue {
        switch value {
        case .string(let text) where !text.isEmpty && text.utf8.count <= 256 && !text.utf8.contains(0):
            return value
        case .array(let items) where (1...4).contains(items.count):
            for (index, item) in items.enumerated() {
                guard let text = item.stringValue, !text.isEmpty, text.utf8.count <= 256, !text.utf8.contains(0) else {
                    throw .invalid("\(path)[\(index)]", "must be a non-empty string of at most 256 bytes")
                }
            }
            return value
        default:
            throw .invalid(path, "must be a string or 1-4 strings of at most 256 bytes")
        }
    }

    var json: JSONValue {
        var object: [String: JSONValue] = ["model": .string(self.model)]
        if !self.params.isEmpty { object["params"] = .object(self.params) }
        if let prompt = self.prompt { object["prompt"] = .string(prompt.description) }
        return .object(object)
    }
}

extension Condition {
    init(parsing value: JSONValue, path: String, depth: Int, count: inout Int) throws(FieldError) {
        count += 1
        guard count <= RouteSpec.maxConditions else {
            throw .invalid(path, "a route may hold at most \(RouteSpec.maxConditions) conditions")
        }
        guard depth <= RouteSpec.maxConditionDepth else {
            throw .invalid(path, "conditions may nest at most \(RouteSpec.maxConditionDepth) deep")
        }
        guard case .object(let fields) = value else {
            throw .invalid(
                path,
                "must be a condition object ({\"field\", \"op\", \"value\"}, {\"all\"}, {\"any\"} or {\"not\"}), not \(value.typeName)"
            )
        }
        for combinator in ["all", "any"] where fields[combinator] != nil {
            let reader = try FieldReader(value, path: path, allowed: [combinator])
            guard let items = try reader.array(combinator), !items.isEmpty else {
                throw .invalid(reader.field(combinator), "must list at least one condition")
            }
            var conditions: [Condition] = []
            for (index, item) in items.enumerated() {
                conditions.append(try Condition(parsing: item, path: "\(reader.field(combinator))[\(index)]", depth: depth + 1, count: &count))
            }
            self = combinator == "all" ? .all(conditions) : .any(conditions)
            return
        }
        if let inner = fields["not"] {
            _ = try FieldReader(value, path: path, allowed: ["not"])
            self = .not(try Condition(parsing: inner, path: FieldReader.join(path, "not"), depth: depth + 1, count: &count))
            return
        }
        let reader = try FieldReader(value, path: path, allowed: ["field", "op", "value"])
        let factName = try reader.requiredString("field")
        guard let fact = Fact(name: factName) else {
            throw .invalid(
                reader.field("field"),
                "unknown field '\(factName)'; use tag, user, region, stream, tools, prompt_tokens, key.id, key.name, header.<name>, metadata.<key>, tenant.labels.<key> or key.labels.<key>"
            )
        }
        let opName = try reader.requiredString("op")
        guard let op = Operator(rawValue: opName) else {
            throw .invalid(reader.field("op"), "must be one of: \(Operator.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let operand = try Self.operand(op, fact: fact, reader: reader)
        self = .match(fact, op, operand)
    }

    /// Checks the `value` against the operator and the fact's type.
    static func operand(_ op: Operator, fact: Fact, reader: FieldReader) throws(FieldError) -> JSONValue {
        let field = reader.field("value")
        let value = reader.value("value")
        switch op {
        case .exists:
            guard value == nil else { throw .invalid(field, "must be omitted for 'exists' (use {\"not\": …} for absence)") }
            return .null
        case .eq:
            guard let value else { throw .invalid(field, "is required for 'eq'") }
            return try Self.scalar(value, fact: fact, path: field)
        case .in:
            guard let value else { throw .invalid(field, "is required for 'in': a list of values") }
            guard case .array(let items) = value, (1...1_000).contains(items.count) else {
                throw .invalid(field, "must be a list of 1-1000 values for 'in'")
            }
            var checked: [JSONValue] = []
            for (index, item) in items.enumerated() { checked.append(try Self.scalar(item, fact: fact, path: "\(field)[\(index)]")) }
            return .array(checked)
        case .prefix:
            guard fact.kind == .string else { throw .invalid(reader.field("op"), "'prefix' applies to text fields, not '\(fact.name)'") }
            guard let text = value?.stringValue, !text.isEmpty, text.utf8.count <= 1_024, !text.utf8.contains(0) else {
                throw .invalid(field, "must be a non-empty string of at most 1024 bytes, without NUL, for 'prefix'")
            }
            return .string(text)
        case .lt, .gt:
            guard fact.kind != .boolean else { throw .invalid(reader.field("op"), "'\(op.rawValue)' does not apply to '\(fact.name)'") }
            guard let value else { throw .invalid(field, "is required for '\(op.rawValue)': a number") }
            switch value {
            case .int, .double: return value
            default: throw .invalid(field, "must be a number for '\(op.rawValue)', not \(value.typeName)")
            }
        }
    }

    static func scalar(_ value: JSONValue, fact: Fact, path: String) throws(FieldError) -> JSONValue {
        switch (fact.kind, value) {
        case (.boolean, .bool), (.number, .int), (.number, .double):
            return value
        case (.string, .string(let text)) where text.utf8.count <= 1_024 && !text.utf8.contains(0):
            return value
        case (.string, .int), (.string, .double):
            // A header or label holds text; compare against the number's text form.
            return .string(String(decoding: value.serialized(), as: UTF8.self))
        case (.boolean, _):
            throw .invalid(path, "must be true or false for '\(fact.name)'")
        case (.number, _):
            throw .invalid(path, "must be a number for '\(fact.name)'")
        case (.string, _):
            throw .invalid(path, "must be a string of at most 1024 bytes, without NUL, for '\(fact.name)'")
        }
    }

    var json: JSONValue {
        switch self {
        case .all(let conditions): ["all": .array(conditions.map(\.json))]
        case .any(let conditions): ["any": .array(conditions.map(\.json))]
        case .not(let condition): ["not": condition.json]
        case .match(let fact, .exists, _): ["field": .string(fact.name), "op": "exists"]
        case .match(let fact, let op, let value): ["field": .string(fact.name), "op": .string(op.rawValue), "value": value]
        }
    }
}

extension RouteSpec {
    /// The JSON path of the first place the spec names `model`, for error messages.
    public func path(ofModel model: String) -> String? {
        for (index, rule) in self.rules.enumerated() {
            if let path = rule.then.path(ofModel: model) { return "rules[\(index)].then" + path }
        }
        if let path = self.defaultBranch.path(ofModel: model) { return "default" + path }
        return self.fallbacks.firstIndex { $0.model == model }.map { "fallbacks[\($0)].model" }
    }

    /// Every (target, prompt it renders) pair, with the target's model field: targets with their
    /// own prompt, and fallbacks without one once per prompt a primary target may hand them.
    public var promptUses: [(field: String, model: String, prompt: PromptRef)] {
        var uses: [(field: String, model: String, prompt: PromptRef)] = []
        var primaries: [PromptRef] = []
        let branches = self.rules.enumerated().map { ("rules[\($0.offset)].then", $0.element.then) } + [("default", self.defaultBranch)]
        for (prefix, branch) in branches {
            for (field, target) in branch.fieldTargets(prefix: prefix) {
                guard let prompt = target.prompt else { continue }
                uses.append((field, target.model, prompt))
                if !primaries.contains(prompt) { primaries.append(prompt) }
            }
        }
        for (index, fallback) in self.fallbacks.enumerated() {
            for prompt in fallback.prompt.map({ [$0] }) ?? primaries {
                uses.append(("fallbacks[\(index)].model", fallback.model, prompt))
            }
        }
        return uses
    }

    /// Where the spec first references `prompt`, as a field path (for error messages).
    public func path(ofPrompt prompt: PromptRef) -> String? {
        for (index, rule) in self.rules.enumerated() {
            if let path = rule.then.path(ofPrompt: prompt) { return "rules[\(index)].then" + path }
        }
        if let path = self.defaultBranch.path(ofPrompt: prompt) { return "default" + path }
        return self.fallbacks.firstIndex { $0.prompt == prompt }.map { "fallbacks[\($0)].prompt" }
    }
}

extension Branch {
    /// The branch's targets with the field path of each one's model.
    func fieldTargets(prefix: String) -> [(String, Target)] {
        switch self {
        case .target(let target): [(prefix + ".model", target)]
        case .split(let variants): variants.enumerated().map { ("\(prefix).split[\($0.offset)].model", $0.element.target) }
        }
    }

    func path(ofPrompt prompt: PromptRef) -> String? {
        switch self {
        case .target(let target): target.prompt == prompt ? ".prompt" : nil
        case .split(let variants): variants.firstIndex { $0.target.prompt == prompt }.map { ".split[\($0)].prompt" }
        }
    }

    func path(ofModel model: String) -> String? {
        switch self {
        case .target(let target): target.model == model ? ".model" : nil
        case .split(let variants): variants.firstIndex { $0.target.model == model }.map { ".split[\($0)].model" }
        }
    }
}
