// A validator for the subset of JSON Schema (draft 2020-12) that prompt `response_schema`s may
// use. A keyword outside the subset is refused when the schema is parsed, so an author learns at
// once what is not checked instead of trusting a `pattern` that is silently ignored.

/// A JSON Schema (a documented subset of draft 2020-12), parsed and ready to validate values.
///
/// Checked keywords: `type` (a name or a list of `object`, `array`, `string`, `number`,
/// `integer`, `boolean`, `null`), `properties`, `required`, `additionalProperties` (a boolean or
/// a schema), `items` (one schema), `minItems`, `maxItems`, `enum`, `const`, `minimum`,
/// `maximum`, `exclusiveMinimum`, `exclusiveMaximum` (numbers, as in 2020-12), `minLength`,
/// `maxLength` (counted in Unicode code points), `anyOf`, `oneOf`, `allOf`. The annotations
/// `description`, `title`, `$schema`, `$comment`, `default` and `examples` are accepted and
/// ignored. Any other keyword (`pattern`, `format`, `$ref`, …) is an error. `true` and `false`
/// are schemas too (anything / nothing). A number without a fractional part counts as an integer.
public struct JSONSchema: Sendable, Hashable {
    /// The schema as written; this is what providers are sent.
    public let json: JSONValue
    let root: Node

    /// Schemas nest at most this deep.
    public static let maximumDepth = 32
    /// `validate` reports at most this many errors.
    public static let maximumErrors = 10

    static let typeNames = ["object", "array", "string", "number", "integer", "boolean", "null"]
    static let annotations: Set<String> = ["description", "title", "$schema", "$comment", "default", "examples"]
    static let keywords: [String] = [
        "type", "properties", "required", "additionalProperties", "items", "minItems", "maxItems", "enum", "const",
        "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength", "anyOf", "oneOf", "allOf",
    ]

    /// Parses a schema; every error names the keyword's path under `path`
    /// (`response_schema.properties.price.type`).
    /// The largest schema accepted, serialized: schemas are parsed on every node, so their cost is bounded.
    public static let maximumBytes = 65_536

    public init(_ json: JSONValue, path: String = "response_schema") throws(FieldError) {
        guard json.serialized().count <= Self.maximumBytes else {
            throw .invalid(path, "must be at most \(Self.maximumBytes) bytes of JSON")
        }
        self.root = try Node(parsing: json, path: path, depth: 1)
        self.json = json
    }

    public static func == (lhs: JSONSchema, rhs: JSONSchema) -> Bool { lhs.json == rhs.json }

    public func hash(into hasher: inout Hasher) { hasher.combine(self.json) }

    /// The ways `value` breaks the schema, as `path: problem` lines with JSON-path-like paths
    /// (`$.items[2].price: expected number, got string`); at most ``maximumErrors``, empty when
    /// the value is valid.
    public func validate(_ value: JSONValue) -> [String] {
        var collector = Collector(limit: Self.maximumErrors)
        self.root.check(value, path: "$", into: &collector)
        return collector.errors
    }

    /// Validates a model's text output: surrounding whitespace and one markdown code fence
    /// (```` ```json … ``` ````) are tolerated; text that is not JSON gives one `not JSON: …` error.
    public func validate(text: String) -> [String] {
        let value: JSONValue
        do {
            value = try Self.parseOutput(text)
        } catch {
            return ["not JSON: \(error)"]
        }
        return self.validate(value)
    }

    /// Parses a model's text output as JSON, after stripping surrounding whitespace and one
    /// markdown code fence.
    public static func parseOutput(_ text: String) throws(JSONParseError) -> JSONValue {
        try JSONValue(parsing: Self.strippingCodeFence(text))
    }

    /// The text without surrounding whitespace and, when it is fenced, without the opening fence
    /// line (```` ```json ````) and the closing fence.
    static func strippingCodeFence(_ text: String) -> ArraySlice<UInt8> {
        let bytes = Self.trimmed(Array(text.utf8)[...])
        let fence = Array("```".utf8)
        guard bytes.starts(with: fence), let newline = bytes.firstIndex(of: 0x0A) else { return bytes }
        var body = Self.trimmed(bytes[(newline + 1)...])
        if body.count >= fence.count, body.suffix(fence.count).elementsEqual(fence) {
            body = Self.trimmed(body.dropLast(fence.count))
        }
        return body
    }

    static func trimmed(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var slice = bytes
        while let first = slice.first, Self.isWhitespace(first) { slice = slice.dropFirst() }
        while let last = slice.last, Self.isWhitespace(last) { slice = slice.dropLast() }
        return slice
    }

    static func isWhitespace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D }
}

// MARK: - Parsing

extension JSONSchema {
    /// What one (sub)schema requires.
    struct Rules: Sendable {
        /// The `false` schema: nothing is valid.
        var rejectsEverything = false
        var types: [String]?
        var properties: [String: Node] = [:]
        var required: [String] = []
        /// nil: any additional property is allowed.
        var additionalProperties: Node?
        var items: Node?
        var minItems: Int?
        var maxItems: Int?
        var minLength: Int?
        var maxLength: Int?
        var enumValues: [JSONValue]?
        var constValue: JSONValue?
        var minimum: Double?
        var maximum: Double?
        var exclusiveMinimum: Double?
        var exclusiveMaximum: Double?
        var anyOf: [Node] = []
        var oneOf: [Node] = []
        var allOf: [Node] = []
    }

    /// One parsed (sub)schema. A class so that schemas can hold schemas.
    final class Node: Sendable {
        let rules: Rules

        init(parsing json: JSONValue, path: String, depth: Int) throws(FieldError) {
            guard depth <= JSONSchema.maximumDepth else {
                throw .invalid(path, "schemas may nest at most \(JSONSchema.maximumDepth) deep")
            }
            var rules = Rules()
            switch json {
            case .bool(let flag):
                rules.rejectsEverything = !flag
            case .object(let fields):
                for (key, value) in fields.sorted(by: { $0.key < $1.key }) {
                    try Node.read(key, value, path: FieldReader.join(path, key), depth: depth, into: &rules)
                }
                if let minimum = rules.minItems, let maximum = rules.maxItems, minimum > maximum {
                    throw .invalid(FieldReader.join(path, "maxItems"), "must not be less than minItems")
                }
                if let minimum = rules.minLength, let maximum = rules.maxLength, minimum > maximum {
                    throw .invalid(FieldReader.join(path, "maxLength"), "must not be less than minLength")
                }
            default:
                throw .invalid(path, "must be a schema object (or true or false), not \(json.typeName)")
            }
            self.rules = rules
        }

        private static func read(_ key: String, _ value: JSONValue, path: String, depth: Int, into rules: inout Rules) throws(FieldError) {
            switch key {
            case "type":
                rules.types = try Self.types(value, path: path)
            case "properties":
                guard case .object(let properties) = value else {
                    throw .invalid(path, "must be an object mapping property names to schemas, not \(value.typeName)")
                }
                for (name, schema) in properties.sorted(by: { $0.key < $1.key }) {
                    rules.properties[name] = try Node(parsing: schema, path: "\(path).\(name)", depth: depth + 1)
                }
            case "required":
                guard case .array(let names) = value else { throw .invalid(path, "must be a list of property names, not \(value.typeName)") }
                var required: [String] = []
                var seen = Set<String>()
                for (index, name) in names.enumerated() {
                    guard let text = name.stringValue else { throw .invalid("\(path)[\(index)]", "must be a string, not \(name.typeName)") }
                    guard seen.insert(text).inserted else { throw .invalid("\(path)[\(index)]", "duplicate property '\(text)'") }
                    required.append(text)
                }
                rules.required = required
            case "additionalProperties":
                if case .bool(true) = value {
                    rules.additionalProperties = nil
                } else {
                    rules.additionalProperties = try Node(parsing: value, path: path, depth: depth + 1)
                }
            case "items":
                if case .array = value {
                    throw .invalid(path, "must be one schema for every item (a list of schemas, tuple validation, is not supported)")
                }
                rules.items = try Node(parsing: value, path: path, depth: depth + 1)
            case "minItems": rules.minItems = try Self.count(value, path: path)
            case "maxItems": rules.maxItems = try Self.count(value, path: path)
            case "minLength": rules.minLength = try Self.count(value, path: path)
            case "maxLength": rules.maxLength = try Self.count(value, path: path)
            case "enum":
                guard case .array(let values) = value, !values.isEmpty else { throw .invalid(path, "must be a non-empty list of values") }
                rules.enumValues = values
            case "const":
                rules.constValue = value
            case "minimum": rules.minimum = try Self.number(value, path: path)
            case "maximum": rules.maximum = try Self.number(value, path: path)
            case "exclusiveMinimum": rules.exclusiveMinimum = try Self.number(value, path: path)
            case "exclusiveMaximum": rules.exclusiveMaximum = try Self.number(value, path: path)
            case "anyOf": rules.anyOf = try Self.schemas(value, path: path, depth: depth)
            case "oneOf": rules.oneOf = try Self.schemas(value, path: path, depth: depth)
            case "allOf": rules.allOf = try Self.schemas(value, path: path, depth: depth)
            default:
                guard JSONSchema.annotations.contains(key) else {
                    throw .invalid(
                        path,
                        "unsupported JSON Schema keyword '\(key)'; supported: \(JSONSchema.keywords.joined(separator: ", ")) (and the annotations \(JSONSchema.annotations.sorted().joined(separator: ", ")))"
                    )
                }
            }
        }

        private static func types(_ value: JSONValue, path: String) throws(FieldError) -> [String] {
            let items: [JSONValue]
            let isList: Bool
            switch value {
            case .string:
                items = [value]
                isList = false
            case .array(let list) where !list.isEmpty:
                items = list
                isList = true
            default:
                throw .invalid(path, "must be a type name or a non-empty list of them: \(JSONSchema.typeNames.joined(separator: ", "))")
            }
            var types: [String] = []
            for (index, item) in items.enumerated() {
                let itemPath = isList ? "\(path)[\(index)]" : path
                guard let name = item.stringValue, JSONSchema.typeNames.contains(name) else {
                    throw .invalid(itemPath, "must be one of: \(JSONSchema.typeNames.joined(separator: ", "))")
                }
                guard !types.contains(name) else { throw .invalid(itemPath, "duplicate type '\(name)'") }
                types.append(name)
            }
            return types
        }

        private static func count(_ value: JSONValue, path: String) throws(FieldError) -> Int {
            guard let count = value.intValue, count >= 0, count <= Int64(Int32.max) else {
                throw .invalid(path, "must be a non-negative integer")
            }
            return Int(count)
        }

        private static func number(_ value: JSONValue, path: String) throws(FieldError) -> Double {
            switch value {
            case .int(let number): return Double(number)
            case .double(let number): return number
            default: throw .invalid(path, "must be a number, not \(value.typeName)")
            }
        }

        private static func schemas(_ value: JSONValue, path: String, depth: Int) throws(FieldError) -> [Node] {
            guard case .array(let list) = value, !list.isEmpty else { throw .invalid(path, "must be a non-empty list of schemas") }
            var nodes: [Node] = []
            for (index, item) in list.enumerated() {
                nodes.append(try Node(parsing: item, path: "\(path)[\(index)]", depth: depth + 1))
            }
            return nodes
        }
    }
}

// MARK: - Validation

extension JSONSchema {
    struct Collector {
        let limit: Int
        var errors: [String] = []

        init(limit: Int) { self.limit = limit }

        var isFull: Bool { self.errors.count >= self.limit }

        mutating func add(_ path: String, _ message: String) {
            guard !self.isFull else { return }
            self.errors.append("\(path): \(message)")
        }
    }
}

extension JSONSchema.Node {
    func check(_ value: JSONValue, path: String, into out: inout JSONSchema.Collector) {
        guard !out.isFull else { return }
        let rules = self.rules
        if rules.rejectsEverything {
            out.add(path, "no value is allowed here")
            return
        }
        if let types = rules.types, !types.contains(where: { Self.value(value, hasType: $0) }) {
            out.add(path, "expected \(types.joined(separator: " or ")), got \(value.typeName)")
            return
        }
        if let constant = rules.constValue, !JSONSchema.equal(value, constant) {
            out.add(path, "must be \(JSONSchema.brief(constant))")
        }
        if let values = rules.enumValues, !values.contains(where: { JSONSchema.equal(value, $0) }) {
            let listed = values.prefix(10).map { JSONSchema.brief($0) }.joined(separator: ", ")
            out.add(path, "must be one of \(listed)\(values.count > 10 ? ", …" : "")")
        }
        switch value {
        case .int(let number):
            self.checkNumber(Double(number), path: path, into: &out)
        case .double(let number):
            self.checkNumber(number, path: path, into: &out)
        case .string(let text):
            let length = text.unicodeScalars.count
            if let minimum = rules.minLength, length < minimum {
                out.add(path, "must be at least \(minimum) characters long, not \(length)")
            }
            if let maximum = rules.maxLength, length > maximum {
                out.add(path, "must be at most \(maximum) characters long, not \(length)")
            }
        case .array(let items):
            if let minimum = rules.minItems, items.count < minimum {
                out.add(path, "must have at least \(minimum) items, not \(items.count)")
            }
            if let maximum = rules.maxItems, items.count > maximum {
                out.add(path, "must have at most \(maximum) items, not \(items.count)")
            }
            if let schema = rules.items {
                for (index, item) in items.enumerated() {
                    guard !out.isFull else { break }
                    schema.check(item, path: "\(path)[\(index)]", into: &out)
                }
            }
        case .object(let fields):
            for name in rules.required where fields[name] == nil {
                out.add(path, "missing required property '\(name)'")
            }
            for (name, field) in fields.sorted(by: { $0.key < $1.key }) {
                guard !out.isFull else { break }
                if let schema = rules.properties[name] {
                    schema.check(field, path: JSONSchema.child(path, name), into: &out)
                } else if let schema = rules.additionalProperties {
                    if schema.rules.rejectsEverything {
                        out.add(path, "unexpected property '\(name)'")
                    } else {
                        schema.check(field, path: JSONSchema.child(path, name), into: &out)
                    }
                }
            }
        case .bool, .null:
            break
        }
        for schema in rules.allOf {
            schema.check(value, path: path, into: &out)
        }
        if !rules.anyOf.isEmpty {
            var firstErrors: [String] = []
            var matched = false
            for schema in rules.anyOf {
                let errors = schema.errors(value, path: path)
                if errors.isEmpty {
                    matched = true
                    break
                }
                firstErrors.append(errors.first ?? "")
            }
            if !matched {
                out.add(path, "matches none of the \(rules.anyOf.count) anyOf alternatives (\(firstErrors.prefix(3).joined(separator: "; ")))")
            }
        }
        if !rules.oneOf.isEmpty {
            var matching: [Int] = []
            var firstErrors: [String] = []
            for (index, schema) in rules.oneOf.enumerated() {
                let errors = schema.errors(value, path: path)
                if errors.isEmpty {
                    matching.append(index)
                } else {
                    firstErrors.append(errors.first ?? "")
                }
            }
            if matching.isEmpty {
                out.add(path, "matches none of the \(rules.oneOf.count) oneOf alternatives (\(firstErrors.prefix(3).joined(separator: "; ")))")
            } else if matching.count > 1 {
                out.add(
                    path,
                    "matches \(matching.count) of the oneOf alternatives (\(matching.map { String($0) }.joined(separator: ", "))); exactly one must match"
                )
            }
        }
    }

    /// The first error of `value` against this schema, if any (enough to decide a match).
    private func errors(_ value: JSONValue, path: String) -> [String] {
        var trial = JSONSchema.Collector(limit: 1)
        self.check(value, path: path, into: &trial)
        return trial.errors
    }

    private func checkNumber(_ number: Double, path: String, into out: inout JSONSchema.Collector) {
        let rules = self.rules
        if let minimum = rules.minimum, number < minimum {
            out.add(path, "must be at least \(FieldReader.format(minimum))")
        }
        if let maximum = rules.maximum, number > maximum {
            out.add(path, "must be at most \(FieldReader.format(maximum))")
        }
        if let minimum = rules.exclusiveMinimum, number <= minimum {
            out.add(path, "must be greater than \(FieldReader.format(minimum))")
        }
        if let maximum = rules.exclusiveMaximum, number >= maximum {
            out.add(path, "must be less than \(FieldReader.format(maximum))")
        }
    }

    static func value(_ value: JSONValue, hasType type: String) -> Bool {
        switch (type, value) {
        case ("object", .object), ("array", .array), ("string", .string), ("boolean", .bool), ("null", .null):
            return true
        case ("number", .int), ("number", .double), ("integer", .int):
            return true
        case ("integer", .double(let number)):
            return number.isFinite && number.rounded() == number
        default:
            return false
        }
    }
}

extension JSONSchema {
    /// JSON equality, where `1` equals `1.0`.
    static func equal(_ lhs: JSONValue, _ rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.int(let left), .int(let right)):
            return left == right
        case (.int(let left), .double(let right)):
            return Double(left) == right
        case (.double(let left), .int(let right)):
            return left == Double(right)
        case (.array(let left), .array(let right)):
            guard left.count == right.count else { return false }
            for (leftItem, rightItem) in zip(left, right) where !Self.equal(leftItem, rightItem) { return false }
            return true
        case (.object(let left), .object(let right)):
            guard left.count == right.count else { return false }
            for (key, leftValue) in left {
                guard let rightValue = right[key], Self.equal(leftValue, rightValue) else { return false }
            }
            return true
        default:
            return lhs == rhs
        }
    }

    /// A value as short JSON text for an error message.
    static func brief(_ value: JSONValue) -> String {
        let bytes = value.serialized(sortedKeys: true)
        guard bytes.count > 80 else { return String(decoding: bytes, as: UTF8.self) }
        return String(decoding: bytes.prefix(80), as: UTF8.self) + "…"
    }

    /// `$.name` for identifier-like names, `$["odd name"]` otherwise.
    static func child(_ path: String, _ name: String) -> String {
        let bytes = Array(name.utf8)
        let isIdentifier =
            !bytes.isEmpty && !(bytes[0] >= UInt8(ascii: "0") && bytes[0] <= UInt8(ascii: "9"))
            && bytes.allSatisfy { byte in
                (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                    || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "_")
            }
        if isIdentifier { return "\(path).\(name)" }
        return "\(path)[\(String(decoding: JSONValue.string(name).serialized(), as: UTF8.self))]"
    }
}
