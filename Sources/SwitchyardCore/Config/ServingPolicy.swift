/// Which models may serve a tenant's or a key's requests (data residency, approved vendors):
/// for every tag it names, the model's value of that tag must be one of the allowed values. A
/// model without the tag does not qualify. An empty policy allows every model.
///
/// JSON form: `{"require": {"region": ["eu"], "data_residency": ["eu", "ch"]}}`.
public struct ServingPolicy: Sendable, Hashable {
    public static let maxTags = 16
    public static let maxValues = 64

    /// Tag name → allowed values.
    public var require: [String: Set<String>]

    public init(require: [String: Set<String>] = [:]) {
        self.require = require
    }

    public var isEmpty: Bool { self.require.isEmpty }

    public init(json: JSONValue, path: String = "policy") throws(FieldError) {
        let reader = try FieldReader(json, path: path, allowed: ["require"])
        var require: [String: Set<String>] = [:]
        if let requirements = reader.value("require") {
            guard case .object(let fields) = requirements, fields.count <= Self.maxTags else {
                throw .invalid(reader.field("require"), "must be an object of at most \(Self.maxTags) tags, each with its allowed values")
            }
            for (tag, value) in fields.sorted(by: { $0.key < $1.key }) {
                let field = FieldReader.join(reader.field("require"), tag)
                guard Names.isValidLabelKey(tag) else {
                    throw .invalid(field, "a tag name is 1-63 letters, digits or '._-', starting with a letter or digit")
                }
                guard case .array(let items) = value, !items.isEmpty, items.count <= Self.maxValues else {
                    throw .invalid(field, "must be a list of 1-\(Self.maxValues) allowed values")
                }
                var values = Set<String>()
                for (index, item) in items.enumerated() {
                    guard let text = item.stringValue, !text.isEmpty, text.utf8.count <= 256 else {
                        throw .invalid("\(field)[\(index)]", "must be a non-empty string of at most 256 bytes")
                    }
                    values.insert(text)
                }
                require[tag] = values
            }
        }
        self.require = require
    }

    /// Canonical JSON (values sorted).
    public var json: JSONValue {
        .object(["require": .object(self.require.mapValues { .array($0.sorted().map(JSONValue.string)) })])
    }

    /// Why `model` may not serve under this policy, or nil when it may.
    public func refusal(of model: ModelConfig) -> String? {
        for (tag, allowed) in self.require.sorted(by: { $0.key < $1.key }) {
            guard let value = model.tags[tag] else {
                return "model '\(model.name)' has no '\(tag)' tag; the policy requires \(tag) in [\(allowed.sorted().joined(separator: ", "))]"
            }
            guard allowed.contains(value) else {
                return "model '\(model.name)' has \(tag)=\(value); the policy requires \(tag) in [\(allowed.sorted().joined(separator: ", "))]"
            }
        }
        return nil
    }
}
