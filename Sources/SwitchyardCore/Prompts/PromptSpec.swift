// The body of one prompt version: declared variables, per-model variants of the templates,
// tools with per-provider names, and an optional response schema. Parsed with a field path in
// every error and written in one canonical form (defaults spelled out), so that parsing the
// canonical JSON gives the same spec back.

/// The immutable body of one prompt version.
public struct PromptSpec: Sendable, Hashable {
    public static let fields: Set<String> = ["variables", "variants", "tools", "response_schema", "on_invalid_output"]
    public static let maxVariables = 64
    public static let maxVariants = 32
    public static let maxModelPatterns = 64
    public static let maxTools = 64
    public static let maxEnumValues = 256
    /// Bytes of one `system` or `user` template.
    public static let maxTemplateBytes = 100_000
    /// The largest `max_length` a string variable may declare.
    public static let maxStringLength = 1_000_000

    /// The declared variables, ordered by name (JSON objects carry no order).
    public var variables: [Variable]
    /// The variants, in the order they are tried.
    public var variants: [Variant]
    public var tools: [Tool]
    /// The version-level response schema; a variant's own schema overrides it.
    public var responseSchema: JSONSchema?
    /// What to do when the output does not match the response schema.
    public var onInvalidOutput: InvalidOutputRecovery

    /// One declared variable.
    public struct Variable: Sendable, Hashable {
        public var name: String
        public var type: VariableType
        public var description: String?
        /// Whether a request must send it. False when a `default` is given.
        public var required: Bool
        /// The value used when the request does not send one.
        public var defaultValue: JSONValue?
        /// For strings: the most Unicode code points allowed.
        public var maxLength: Int?

        public init(
            name: String,
            type: VariableType,
            description: String? = nil,
            required: Bool = true,
            defaultValue: JSONValue? = nil,
            maxLength: Int? = nil
        ) {
            self.name = name
            self.type = type
            self.description = description
            self.required = required
            self.defaultValue = defaultValue
            self.maxLength = maxLength
        }
    }

    /// The type of a variable.
    public enum VariableType: Sendable, Hashable {
        case string
        case integer
        case number
        case boolean
        /// Any JSON value, rendered as compact JSON.
        case json
        /// One of the listed strings (`"type": "enum"`).
        case enumeration([String])

        /// The name used in the JSON form.
        public var name: String {
            switch self {
            case .string: "string"
            case .integer: "integer"
            case .number: "number"
            case .boolean: "boolean"
            case .json: "json"
            case .enumeration: "enum"
            }
        }

        /// What a value must be, for error messages ("an integer", "one of: formal, casual").
        public var expectation: String {
            switch self {
            case .string: "a string"
            case .integer: "an integer"
            case .number: "a number"
            case .boolean: "a boolean (true or false)"
            case .json: "any JSON value"
            case .enumeration(let values): "one of: \(values.joined(separator: ", "))"
            }
        }
    }

    /// One variant of the templates, used for the models its patterns match.
    public struct Variant: Sendable, Hashable {
        public var name: String
        /// Exact catalog model names, or prefixes followed by `*`. Empty: every model.
        public var models: [String]
        public var system: Template?
        public var user: Template?
        /// Overrides the version's response schema for this variant.
        public var responseSchema: JSONSchema?

        public init(name: String, models: [String] = [], system: Template? = nil, user: Template? = nil, responseSchema: JSONSchema? = nil) {
            self.name = name
            self.models = models
            self.system = system
            self.user = user
            self.responseSchema = responseSchema
        }

        /// Whether the variant applies to the catalog model `model`.
        public func matches(model: String) -> Bool {
            guard !self.models.isEmpty else { return true }
            for pattern in self.models {
                if pattern.hasSuffix("*") {
                    if model.hasPrefix(String(pattern.dropLast())) { return true }
                } else if pattern == model {
                    return true
                }
            }
            return false
        }
    }

    /// A tool the prompt offers, with optional per-provider names for the tool and its arguments.
    public struct Tool: Sendable, Hashable {
        /// The canonical name clients see in tool calls.
        public var name: String
        public var description: String?
        /// The JSON Schema of the arguments, kept as given.
        public var parameters: JSONValue
        /// The tool's name per provider kind, where it differs from `name`.
        public var names: [ProviderKind: String]
        /// Per provider kind: canonical argument name → the provider's argument name.
        public var arguments: [ProviderKind: [String: String]]

        public init(
            name: String,
            description: String? = nil,
            parameters: JSONValue = Tool.emptyParameters,
            names: [ProviderKind: String] = [:],
            arguments: [ProviderKind: [String: String]] = [:]
        ) {
            self.name = name
            self.description = description
            self.parameters = parameters
            self.names = names
            self.arguments = arguments
        }

        /// The parameters of a tool that declares none.
        public static let emptyParameters: JSONValue = ["type": "object", "properties": [:]]

        /// The name the provider kind sees.
        public func providerName(for kind: ProviderKind) -> String { self.names[kind] ?? self.name }
    }

    /// What to do when a model's output does not match the response schema.
    public enum InvalidOutputRecovery: String, Sendable, Hashable, CaseIterable {
        /// Ask the same model once more, showing it the errors.
        case repair
        /// Try the next target of the route.
        case nextTarget = "next_target"
        /// Return an error to the client.
        case fail
    }

    public init(
        variables: [Variable],
        variants: [Variant],
        tools: [Tool] = [],
        responseSchema: JSONSchema? = nil,
        onInvalidOutput: InvalidOutputRecovery = .repair
    ) {
        self.variables = variables
        self.variants = variants
        self.tools = tools
        self.responseSchema = responseSchema
        self.onInvalidOutput = onInvalidOutput
    }

    /// The first variant for the catalog model `model` (a variant without `models` matches every
    /// model), or nil when none does.
    public func variant(forModel model: String) -> Variant? {
        self.variants.first { $0.matches(model: model) }
    }

    /// The response schema that applies to `variant`: its own, else the version's.
    public func responseSchema(for variant: Variant) -> JSONSchema? {
        variant.responseSchema ?? self.responseSchema
    }

    /// Whether the version or any variant has a response schema.
    public var hasResponseSchema: Bool {
        self.responseSchema != nil || self.variants.contains { $0.responseSchema != nil }
    }

    /// The variable named `name`.
    public func variable(named name: String) -> Variable? {
        self.variables.first { $0.name == name }
    }
}

// MARK: - Parsing

extension PromptSpec {
    /// Parses and validates a prompt version's body.
    /// The largest prompt version accepted, as JSON: versions travel to every node.
    public static let maxSpecBytes = 524_288

    public init(json: JSONValue) throws(FieldError) {
        guard json.serialized().count <= Self.maxSpecBytes else {
            throw .invalid("$", "a prompt version must be at most \(Self.maxSpecBytes) bytes of JSON")
        }
        let reader = try FieldReader(json, allowed: Self.fields)
        let variables = try Self.parseVariables(reader)
        let declared = variables.map(\.name)

        guard let variantValues = try reader.array("variants") else {
            throw .invalid(
                reader.field("variants"),
                "is required: a list of 1-\(Self.maxVariants) variants, e.g. [{\"name\": \"default\", \"user\": \"…\"}]"
            )
        }
        guard (1...Self.maxVariants).contains(variantValues.count) else {
            throw .invalid(reader.field("variants"), "must list 1-\(Self.maxVariants) variants")
        }
        var variants: [Variant] = []
        var variantNames = Set<String>()
        for (index, value) in variantValues.enumerated() {
            let variant = try Variant(parsing: value, path: "\(reader.field("variants"))[\(index)]", declared: declared)
            guard variantNames.insert(variant.name).inserted else {
                throw .invalid("\(reader.field("variants"))[\(index)].name", "duplicate variant name '\(variant.name)'")
            }
            variants.append(variant)
        }

        let tools = try Self.parseTools(reader)
        let responseSchema = try Self.schema(reader, "response_schema")
        let hasSchema = responseSchema != nil || variants.contains { $0.responseSchema != nil }

        var recovery = InvalidOutputRecovery.repair
        if let name = try reader.string("on_invalid_output") {
            guard let parsed = InvalidOutputRecovery(rawValue: name) else {
                throw .invalid(
                    reader.field("on_invalid_output"),
                    "must be one of: \(InvalidOutputRecovery.allCases.map(\.rawValue).joined(separator: ", "))"
                )
            }
            guard hasSchema else {
                throw .invalid(
                    reader.field("on_invalid_output"),
                    "only applies with a response_schema (on the version or on a variant); add one or drop this field"
                )
            }
            recovery = parsed
        }

        self.init(variables: variables, variants: variants, tools: tools, responseSchema: responseSchema, onInvalidOutput: recovery)
    }

    /// The canonical JSON form: defaults spelled out, `on_invalid_output` only with a schema.
    public var json: JSONValue {
        var variables: [String: JSONValue] = [:]
        for variable in self.variables { variables[variable.name] = variable.json }
        var object: [String: JSONValue] = [
            "variables": .object(variables),
            "variants": .array(self.variants.map(\.json)),
            "tools": .array(self.tools.map(\.json)),
        ]
        if let schema = self.responseSchema { object["response_schema"] = schema.json }
        if self.hasResponseSchema { object["on_invalid_output"] = .string(self.onInvalidOutput.rawValue) }
        return .object(object)
    }

    static func parseVariables(_ reader: FieldReader) throws(FieldError) -> [Variable] {
        guard let value = reader.value("variables") else { return [] }
        let path = reader.field("variables")
        guard case .object(let entries) = value else {
            throw .invalid(path, "must be an object mapping variable names to their declarations, not \(value.typeName)")
        }
        guard entries.count <= Self.maxVariables else { throw .invalid(path, "at most \(Self.maxVariables) variables are allowed") }
        var variables: [Variable] = []
        for (name, entry) in entries.sorted(by: { $0.key < $1.key }) {
            let entryPath = "\(path).\(name)"
            guard Self.isVariableName(name) else {
                throw .invalid(entryPath, "variable names are 1-64 letters, digits or '_', not starting with a digit")
            }
            variables.append(try Variable(parsing: entry, name: name, path: entryPath))
        }
        return variables
    }

    static func parseTools(_ reader: FieldReader) throws(FieldError) -> [Tool] {
        let values = try reader.array("tools") ?? []
        guard values.count <= Self.maxTools else { throw .invalid(reader.field("tools"), "at most \(Self.maxTools) tools are allowed") }
        var tools: [Tool] = []
        for (index, value) in values.enumerated() {
            let path = "\(reader.field("tools"))[\(index)]"
            let tool = try Tool(parsing: value, path: path)
            if let other = tools.first(where: { $0.name == tool.name }) {
                throw .invalid("\(path).name", "duplicate tool name '\(other.name)'")
            }
            // Each provider must see distinct names, or its tool calls could not be mapped back.
            for kind in ProviderKind.allCases {
                let name = tool.providerName(for: kind)
                if let other = tools.first(where: { $0.providerName(for: kind) == name }) {
                    throw .invalid(
                        tool.names[kind] == nil ? "\(path).name" : "\(path).names.\(kind.rawValue)",
                        "the \(kind.rawValue) name '\(name)' is already used by the tool '\(other.name)'"
                    )
                }
            }
            tools.append(tool)
        }
        return tools
    }

    /// A `response_schema` field: a JSON Schema object.
    static func schema(_ reader: FieldReader, _ key: String) throws(FieldError) -> JSONSchema? {
        guard let value = reader.value(key) else { return nil }
        guard case .object = value else { throw .invalid(reader.field(key), "must be a JSON Schema object, not \(value.typeName)") }
        return try JSONSchema(value, path: reader.field(key))
    }

    /// `[A-Za-z_][A-Za-z0-9_]{0,63}`
    static func isVariableName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard let first = bytes.first, bytes.count <= 64, Self.isLetter(first) || first == UInt8(ascii: "_") else { return false }
        return bytes.allSatisfy { Self.isLetter($0) || Self.isDigit($0) || $0 == UInt8(ascii: "_") }
    }

    /// `[A-Za-z0-9_.-]{1,64}`
    static func isVariantName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...64).contains(bytes.count) else { return false }
        return bytes.allSatisfy {
            Self.isLetter($0) || Self.isDigit($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-")
        }
    }

    /// `[A-Za-z0-9_-]{1,64}`, the name rule OpenAI, Anthropic and Gemini share for functions.
    static func isToolName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...64).contains(bytes.count) else { return false }
        return bytes.allSatisfy { Self.isLetter($0) || Self.isDigit($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }
    }

    /// An exact catalog model name, or a (possibly empty) prefix followed by one trailing `*`.
    static func isModelPattern(_ pattern: String) -> Bool {
        guard pattern.hasSuffix("*") else { return Names.isValidObjectName(pattern) }
        let prefix = String(pattern.dropLast())
        return prefix.isEmpty || Names.isValidObjectName(prefix)
    }

    static func isLetter(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
    }

    static func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    static func providerKinds() -> String { ProviderKind.allCases.map(\.rawValue).joined(separator: ", ") }
}

extension PromptSpec.Variable {
    static let fields: Set<String> = ["type", "description", "required", "default", "max_length", "values"]
    static let typeNames = ["string", "integer", "number", "boolean", "enum", "json"]

    init(parsing value: JSONValue, name: String, path: String) throws(FieldError) {
        let reader = try FieldReader(value, path: path, allowed: Self.fields)
        guard let typeName = try reader.string("type") else {
            throw .invalid(reader.field("type"), "is required: one of \(Self.typeNames.joined(separator: ", "))")
        }
        let type: PromptSpec.VariableType
        switch typeName {
        case "string": type = .string
        case "integer": type = .integer
        case "number": type = .number
        case "boolean": type = .boolean
        case "json": type = .json
        case "enum":
            guard let items = try reader.array("values"), !items.isEmpty else {
                throw .invalid(reader.field("values"), "is required for type 'enum': a non-empty list of strings")
            }
            guard items.count <= PromptSpec.maxEnumValues else {
                throw .invalid(reader.field("values"), "at most \(PromptSpec.maxEnumValues) values are allowed")
            }
            var values: [String] = []
            for (index, item) in items.enumerated() {
                let itemPath = "\(reader.field("values"))[\(index)]"
                guard let text = item.stringValue, text.utf8.count <= 1_024, !text.utf8.contains(0) else {
                    throw .invalid(itemPath, "must be a string of at most 1024 bytes, without NUL")
                }
                guard !values.contains(text) else { throw .invalid(itemPath, "duplicate value '\(text)'") }
                values.append(text)
            }
            type = .enumeration(values)
        default:
            throw .invalid(reader.field("type"), "must be one of: \(Self.typeNames.joined(separator: ", "))")
        }
        if typeName != "enum", reader.value("values") != nil {
            throw .invalid(reader.field("values"), "is only allowed for type 'enum'")
        }

        let maxLength = try reader.integer("max_length", in: 1...PromptSpec.maxStringLength)
        if maxLength != nil, type != .string {
            throw .invalid(reader.field("max_length"), "is only allowed for type 'string'")
        }
        let description = try reader.string("description")
        if let description, description.utf8.count > 4_096 {
            throw .invalid(reader.field("description"), "must be at most 4096 bytes")
        }

        self.init(name: name, type: type, description: description, required: true, defaultValue: nil, maxLength: maxLength)

        if let value = reader.value("default") {
            switch self.render(value) {
            case .text:
                // Integers are stored as such, so `3.0` and `3` give the same spec.
                if type == .integer, let integer = value.intValue {
                    self.defaultValue = .int(integer)
                } else {
                    self.defaultValue = value
                }
            case .wrongType, .notAllowed:
                throw .invalid(reader.field("default"), "must be \(type.expectation)")
            case .tooLong(let length):
                throw .invalid(reader.field("default"), "must be at most \(maxLength ?? 0) characters long, not \(length)")
            }
        }
        let isRequired = try reader.bool("required")
        if isRequired == true, self.defaultValue != nil {
            throw .invalid(reader.field("required"), "a variable with a default is optional; drop 'required' or the default")
        }
        self.required = isRequired ?? (self.defaultValue == nil)
    }

    /// The outcome of rendering a value of this variable as text.
    enum Rendering: Sendable, Hashable {
        case text(String)
        case wrongType
        case notAllowed
        case tooLong(Int)
    }

    /// The text a value renders as in a template: strings and enum values as they are, numbers
    /// as JSON numbers (integral ones without `.0`), booleans as `true`/`false`, `json` values
    /// as compact JSON with sorted keys.
    func render(_ value: JSONValue) -> Rendering {
        switch self.type {
        case .string:
            guard case .string(let text) = value else { return .wrongType }
            if let maxLength = self.maxLength {
                let length = text.unicodeScalars.count
                guard length <= maxLength else { return .tooLong(length) }
            }
            return .text(text)
        case .integer:
            switch value {
            case .int, .double:
                guard let integer = value.intValue else { return .wrongType }
                return .text(String(integer))
            default:
                return .wrongType
            }
        case .number:
            switch value {
            case .int(let number): return .text(String(number))
            case .double(let number): return .text(Self.numberText(number))
            default: return .wrongType
            }
        case .boolean:
            guard let flag = value.boolValue else { return .wrongType }
            return .text(flag ? "true" : "false")
        case .enumeration(let values):
            guard let text = value.stringValue else { return .wrongType }
            guard values.contains(text) else { return .notAllowed }
            return .text(text)
        case .json:
            return .text(String(decoding: value.serialized(sortedKeys: true), as: UTF8.self))
        }
    }

    static func numberText(_ number: Double) -> String {
        if number.isFinite, number.rounded() == number, abs(number) < 1e15 { return String(Int64(number)) }
        return String(number)
    }

    var json: JSONValue {
        var object: [String: JSONValue] = ["type": .string(self.type.name), "required": .bool(self.required)]
        if case .enumeration(let values) = self.type { object["values"] = .array(values.map(JSONValue.string)) }
        if let description = self.description { object["description"] = .string(description) }
        if let defaultValue = self.defaultValue { object["default"] = defaultValue }
        if let maxLength = self.maxLength { object["max_length"] = .int(Int64(maxLength)) }
        return .object(object)
    }
}

extension PromptSpec.Variant {
    static let fields: Set<String> = ["name", "models", "system", "user", "response_schema"]

    init(parsing value: JSONValue, path: String, declared: [String]) throws(FieldError) {
        let reader = try FieldReader(value, path: path, allowed: Self.fields)
        guard let name = try reader.string("name") else { throw .invalid(reader.field("name"), "is required") }
        guard PromptSpec.isVariantName(name) else {
            throw .invalid(reader.field("name"), "must be 1-64 letters, digits or '_.-'")
        }
        var models: [String] = []
        if let patterns = try reader.array("models") {
            guard (1...PromptSpec.maxModelPatterns).contains(patterns.count) else {
                throw .invalid(
                    reader.field("models"),
                    "must list 1-\(PromptSpec.maxModelPatterns) model names or prefixes ending in '*'; omit it to match every model"
                )
            }
            for (index, item) in patterns.enumerated() {
                guard let pattern = item.stringValue, PromptSpec.isModelPattern(pattern) else {
                    throw .invalid(
                        "\(reader.field("models"))[\(index)]",
                        "must be a catalog model name, or a prefix followed by a single trailing '*' (e.g. \"claude*\")"
                    )
                }
                models.append(pattern)
            }
        }
        let system = try Self.template(reader, "system", declared: declared)
        let user = try Self.template(reader, "user", declared: declared)
        guard system != nil || user != nil else {
            throw .invalid(path, "needs a 'system' or a 'user' template (or both)")
        }
        let responseSchema = try PromptSpec.schema(reader, "response_schema")
        self.init(name: name, models: models, system: system, user: user, responseSchema: responseSchema)
    }

    static func template(_ reader: FieldReader, _ key: String, declared: [String]) throws(FieldError) -> Template? {
        guard let text = try reader.string(key) else { return nil }
        guard !text.isEmpty else { throw .invalid(reader.field(key), "must not be empty; omit it instead") }
        guard text.utf8.count <= PromptSpec.maxTemplateBytes else {
            throw .invalid(reader.field(key), "must be at most \(PromptSpec.maxTemplateBytes) bytes")
        }
        let template = Template(text)
        for name in template.variables where !declared.contains(name) {
            let known = declared.isEmpty ? "no variables are declared" : "declared: \(declared.joined(separator: ", "))"
            throw .invalid(reader.field(key), "uses the variable '\(name)', which 'variables' does not declare (\(known))")
        }
        return template
    }

    var json: JSONValue {
        var object: [String: JSONValue] = ["name": .string(self.name)]
        if !self.models.isEmpty { object["models"] = .array(self.models.map(JSONValue.string)) }
        if let system = self.system { object["system"] = .string(system.source) }
        if let user = self.user { object["user"] = .string(user.source) }
        if let schema = self.responseSchema { object["response_schema"] = schema.json }
        return .object(object)
    }
}

extension PromptSpec.Tool {
    static let fields: Set<String> = ["name", "description", "parameters", "names", "arguments"]

    init(parsing value: JSONValue, path: String) throws(FieldError) {
        let reader = try FieldReader(value, path: path, allowed: Self.fields)
        guard let name = try reader.string("name") else { throw .invalid(reader.field("name"), "is required") }
        guard PromptSpec.isToolName(name) else { throw .invalid(reader.field("name"), "must be 1-64 letters, digits, '_' or '-'") }
        let description = try reader.string("description")
        if let description, description.utf8.count > 10_000 {
            throw .invalid(reader.field("description"), "must be at most 10000 bytes")
        }
        var parameters = Self.emptyParameters
        if let value = reader.value("parameters") {
            guard case .object = value else {
                throw .invalid(reader.field("parameters"), "must be a JSON Schema object, not \(value.typeName)")
            }
            parameters = value
        }

        var names: [ProviderKind: String] = [:]
        if let value = reader.value("names") {
            guard case .object(let entries) = value else {
                throw .invalid(reader.field("names"), "must be an object mapping provider kinds to tool names, not \(value.typeName)")
            }
            for (kindName, entry) in entries.sorted(by: { $0.key < $1.key }) {
                let entryPath = "\(reader.field("names")).\(kindName)"
                guard let kind = ProviderKind(rawValue: kindName) else {
                    throw .invalid(entryPath, "unknown provider kind; use one of: \(PromptSpec.providerKinds())")
                }
                guard let providerName = entry.stringValue, PromptSpec.isToolName(providerName) else {
                    throw .invalid(entryPath, "must be a tool name: 1-64 letters, digits, '_' or '-'")
                }
                names[kind] = providerName
            }
        }

        var arguments: [ProviderKind: [String: String]] = [:]
        if let value = reader.value("arguments") {
            guard case .object(let entries) = value else {
                throw .invalid(reader.field("arguments"), "must be an object mapping provider kinds to argument renames, not \(value.typeName)")
            }
            let properties = parameters["properties"]?.objectValue
            for (kindName, entry) in entries.sorted(by: { $0.key < $1.key }) {
                let kindPath = "\(reader.field("arguments")).\(kindName)"
                guard let kind = ProviderKind(rawValue: kindName) else {
                    throw .invalid(kindPath, "unknown provider kind; use one of: \(PromptSpec.providerKinds())")
                }
                arguments[kind] = try Self.argumentMapping(entry, path: kindPath, properties: properties)
            }
        }
        self.init(name: name, description: description, parameters: parameters, names: names, arguments: arguments)
    }

    /// `{canonical argument name: provider argument name}`, one-to-one, and (when the parameters
    /// declare `properties`) naming declared properties without renaming one onto another.
    static func argumentMapping(_ value: JSONValue, path: String, properties: [String: JSONValue]?) throws(FieldError) -> [String: String] {
        guard case .object(let entries) = value else {
            throw .invalid(path, "must be an object mapping canonical argument names to the provider's names, not \(value.typeName)")
        }
        var mapping: [String: String] = [:]
        var canonicalOf: [String: String] = [:]
        for (canonical, entry) in entries.sorted(by: { $0.key < $1.key }) {
            let entryPath = "\(path).\(canonical)"
            guard Self.isArgumentName(canonical) else {
                throw .invalid(entryPath, "argument names must be 1-64 bytes, without NUL")
            }
            guard let providerName = entry.stringValue, Self.isArgumentName(providerName) else {
                throw .invalid(entryPath, "must be an argument name of 1-64 bytes, without NUL")
            }
            if let other = canonicalOf[providerName] {
                throw .invalid(entryPath, "'\(providerName)' is already the name of '\(other)'; the renames must be one-to-one")
            }
            if let properties {
                guard properties[canonical] != nil else {
                    throw .invalid(entryPath, "the tool's parameters have no property '\(canonical)'")
                }
                if providerName != canonical, properties[providerName] != nil, entries[providerName] == nil {
                    throw .invalid(entryPath, "'\(providerName)' is already a property of the tool; the renames must be one-to-one")
                }
            }
            canonicalOf[providerName] = canonical
            mapping[canonical] = providerName
        }
        return mapping
    }

    static func isArgumentName(_ name: String) -> Bool { (1...64).contains(name.utf8.count) && !name.utf8.contains(0) }

    var json: JSONValue {
        var object: [String: JSONValue] = ["name": .string(self.name), "parameters": self.parameters]
        if let description = self.description { object["description"] = .string(description) }
        if !self.names.isEmpty {
            var names: [String: JSONValue] = [:]
            for (kind, name) in self.names { names[kind.rawValue] = .string(name) }
            object["names"] = .object(names)
        }
        if !self.arguments.isEmpty {
            var arguments: [String: JSONValue] = [:]
            for (kind, mapping) in self.arguments { arguments[kind.rawValue] = .object(mapping.mapValues(JSONValue.string)) }
            object["arguments"] = .object(arguments)
        }
        return .object(object)
    }
}
