/// A bad field in a config document, named by its JSON path (`rules[2].when.all[0].op`).
public struct FieldError: Error, Sendable, Hashable, CustomStringConvertible {
    public var field: String
    public var message: String

    public init(_ field: String, _ message: String) {
        self.field = field
        self.message = message
    }

    public static func invalid(_ field: String, _ message: String) -> FieldError { FieldError(field, message) }

    public var description: String { "\(self.field): \(self.message)" }
}

/// Reads a JSON object field by field, with the field's path in every error, and rejects fields
/// it does not know (a typo must not be silently ignored).
public struct FieldReader: Sendable {
    public let fields: [String: JSONValue]
    public let path: String

    public init(_ value: JSONValue, path: String = "", allowed: Set<String>) throws(FieldError) {
        guard case .object(let fields) = value else {
            throw .invalid(path.isEmpty ? "$" : path, "must be a JSON object, not \(value.typeName)")
        }
        for key in fields.keys.sorted() where !allowed.contains(key) {
            throw .invalid(Self.join(path, key), "unknown field")
        }
        self.fields = fields
        self.path = path
    }

    public static func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    public func field(_ key: String) -> String { Self.join(self.path, key) }

    /// The value of `key`; an explicit `null` counts as absent.
    public func value(_ key: String) -> JSONValue? {
        guard let value = self.fields[key], !value.isNull else { return nil }
        return value
    }

    public func string(_ key: String) throws(FieldError) -> String? {
        guard let value = self.value(key) else { return nil }
        guard let string = value.stringValue else { throw .invalid(self.field(key), "must be a string, not \(value.typeName)") }
        // PostgreSQL text cannot hold NUL; refuse it here rather than fail in the database.
        guard !string.utf8.contains(0) else { throw .invalid(self.field(key), "must not contain NUL characters") }
        return string
    }

    public func requiredString(_ key: String) throws(FieldError) -> String {
        guard let string = try self.string(key) else { throw .invalid(self.field(key), "is required") }
        return string
    }

    public func bool(_ key: String) throws(FieldError) -> Bool? {
        guard let value = self.value(key) else { return nil }
        guard let flag = value.boolValue else { throw .invalid(self.field(key), "must be a boolean, not \(value.typeName)") }
        return flag
    }

    public func number(_ key: String) throws(FieldError) -> Double? {
        guard let value = self.value(key) else { return nil }
        switch value {
        case .int(let number): return Double(number)
        case .double(let number): return number
        default: throw .invalid(self.field(key), "must be a number, not \(value.typeName)")
        }
    }

    public func number(_ key: String, in range: ClosedRange<Double>) throws(FieldError) -> Double? {
        guard let number = try self.number(key) else { return nil }
        guard number.isFinite, range.contains(number) else {
            throw .invalid(self.field(key), "must be a number from \(Self.format(range.lowerBound)) to \(Self.format(range.upperBound))")
        }
        return number
    }

    public func integer(_ key: String, in range: ClosedRange<Int>) throws(FieldError) -> Int? {
        guard let value = self.value(key) else { return nil }
        guard let number = value.intValue else { throw .invalid(self.field(key), "must be an integer, not \(value.typeName)") }
        guard number >= Int64(range.lowerBound), number <= Int64(range.upperBound) else {
            throw .invalid(self.field(key), "must be between \(range.lowerBound) and \(range.upperBound)")
        }
        return Int(number)
    }

    public func object(_ key: String, allowed: Set<String>) throws(FieldError) -> FieldReader? {
        guard let value = self.value(key) else { return nil }
        return try FieldReader(value, path: self.field(key), allowed: allowed)
    }

    public func array(_ key: String) throws(FieldError) -> [JSONValue]? {
        guard let value = self.value(key) else { return nil }
        guard let array = value.arrayValue else { throw .invalid(self.field(key), "must be an array, not \(value.typeName)") }
        return array
    }

    /// A string-to-string map such as `labels`.
    public func labels(_ key: String, maxCount: Int = 64) throws(FieldError) -> [String: String]? {
        guard let value = self.value(key) else { return nil }
        guard case .object(let entries) = value else { throw .invalid(self.field(key), "must be an object of strings, not \(value.typeName)") }
        guard entries.count <= maxCount else { throw .invalid(self.field(key), "at most \(maxCount) labels are allowed") }
        var labels: [String: String] = [:]
        for (name, entry) in entries.sorted(by: { $0.key < $1.key }) {
            let path = "\(self.field(key)).\(name)"
            guard Names.isValidLabelKey(name) else {
                throw .invalid(path, "label names are 1-63 letters, digits or '._-', starting with a letter or digit")
            }
            guard let text = entry.stringValue else { throw .invalid(path, "must be a string, not \(entry.typeName)") }
            guard text.utf8.count <= 256, !text.utf8.contains(0) else { throw .invalid(path, "must be at most 256 bytes, without NUL") }
            labels[name] = text
        }
        return labels
    }

    static func format(_ number: Double) -> String {
        number == number.rounded() && abs(number) < 1e15 ? String(Int64(number)) : String(number)
    }
}
