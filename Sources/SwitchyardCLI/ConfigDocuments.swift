import Foundation
public import SwitchyardCore
import Yams

/// Config objects as they live in files (YAML or JSON), for `switchyard apply` and `diff`.
///
/// A file holds one object, a list of objects, or (YAML) several `---`-separated documents.
/// Each object names its type in `object:` (`tenant`, `provider`, `model`, `prompt`, `route`,
/// `budget`); the other fields are those of the admin API's PUT body, plus `tenant:` for routes,
/// prompts and budgets. Secrets need not be
/// in the file: `api_key_env: NAME` (and `key_env` in `credentials`) read them from the
/// environment of the `switchyard apply` process.
public struct ConfigObject: Sendable, Hashable {
    public enum Kind: String, Sendable, CaseIterable, Comparable {
        case tenant, provider, model, prompt, route, budget

        /// Objects that live in a tenant (`tenant:` names it).
        var isTenantScoped: Bool { self == .route || self == .prompt || self == .budget }

        /// Apply order: what others reference comes first.
        var rank: Int { Self.allCases.firstIndex(of: self) ?? 0 }
        public static func < (lhs: Kind, rhs: Kind) -> Bool { lhs.rank < rhs.rank }
    }

    public var kind: Kind
    public var name: String
    /// The owning tenant (routes, prompts and budgets).
    public var tenant: String?
    /// The admin API body: the object's fields without `object`, `tenant` and the name key.
    public var body: [String: JSONValue]
    /// Where it came from, for messages (`file.yaml#2`).
    public var source: String

    public var label: String { self.tenant.map { "\(self.kind.rawValue) \($0)/\(self.name)" } ?? "\(self.kind.rawValue) \(self.name)" }

    /// The admin API path that PUTs this object.
    public var path: String {
        switch self.kind {
        case .tenant: "/admin/v1/tenants/\(Self.escape(self.name))"
        case .provider: "/admin/v1/providers/\(Self.escape(self.name))"
        case .model: "/admin/v1/models/\(Self.escape(self.name))"
        case .prompt: "/admin/v1/tenants/\(Self.escape(self.tenant ?? ""))/prompts/\(Self.escape(self.name))"
        case .route: "/admin/v1/tenants/\(Self.escape(self.tenant ?? ""))/routes/\(Self.escape(self.name))"
        case .budget: "/admin/v1/tenants/\(Self.escape(self.tenant ?? ""))/budgets/\(Self.escape(self.name))"
        }
    }

    static func escape(_ name: String) -> String {
        name.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? name
    }
}

public struct ConfigFileError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ description: String) { self.description = description }
}

public enum ConfigDocuments {
    /// Parses a file's text (`name` decides YAML or JSON: `.json` is JSON, anything else YAML,
    /// which also reads JSON).
    /// `resolvingSecrets: false` drops `api_key_env` / `key_env` instead of reading them (for
    /// `diff`, which never compares keys).
    public static func parse(
        _ text: String,
        name: String,
        environment: [String: String]? = nil,
        resolvingSecrets: Bool = true
    ) throws
        -> [ConfigObject]
    {
        let environment = environment ?? ProcessInfo.processInfo.environment
        let values = try Self.values(text, name: name)
        var objects: [ConfigObject] = []
        for value in values {
            let items = value.arrayValue ?? (value.isNull ? [] : [value])
            for item in items {
                objects.append(
                    try Self.object(item, source: "\(name)#\(objects.count + 1)", environment: environment, resolvingSecrets: resolvingSecrets)
                )
            }
        }
        return objects
    }

    /// The documents of a file's text, as JSON values (`name` decides YAML or JSON).
    static func values(_ text: String, name: String) throws -> [JSONValue] {
        var values: [JSONValue] = []
        if name.hasSuffix(".json") {
            do {
                values = [try JSONValue(parsing: text.utf8)]
            } catch {
                throw ConfigFileError("\(name): \(error)")
            }
        } else {
            do {
                for document in try Yams.load_all(yaml: text) {
                    values.append(try Self.json(from: document, path: name))
                }
            } catch let error as ConfigFileError {
                throw error
            } catch {
                throw ConfigFileError("\(name): not valid YAML: \(error)")
            }
        }
        return values
    }

    static func object(_ value: JSONValue, source: String, environment: [String: String], resolvingSecrets: Bool) throws -> ConfigObject {
        guard case .object(var fields) = value else { throw ConfigFileError("\(source): each object must be a mapping") }
        guard let kindName = fields.removeValue(forKey: "object")?.stringValue else {
            throw ConfigFileError("\(source): 'object' is required: one of \(ConfigObject.Kind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard let kind = ConfigObject.Kind(rawValue: kindName) else {
            throw ConfigFileError(
                "\(source): unknown object '\(kindName)'; use one of \(ConfigObject.Kind.allCases.map(\.rawValue).joined(separator: ", "))"
            )
        }
        let nameKey = kind == .route ? "alias" : "name"
        guard let name = fields.removeValue(forKey: nameKey)?.stringValue, !name.isEmpty else {
            throw ConfigFileError("\(source): '\(nameKey)' is required for a \(kind.rawValue)")
        }
        var tenant: String?
        if kind.isTenantScoped {
            guard let owner = fields.removeValue(forKey: "tenant")?.stringValue, !owner.isEmpty else {
                throw ConfigFileError("\(source): 'tenant' is required for a \(kind.rawValue)")
            }
            tenant = owner
        }
        if kind == .provider {
            if resolvingSecrets {
                try Self.resolveSecrets(&fields, source: source, environment: environment)
            } else {
                fields["api_key_env"] = nil
                if case .array(let list) = fields["credentials"] ?? .null {
                    fields["credentials"] = .array(list.map { entry in .object((entry.objectValue ?? [:]).filter { $0.key != "key_env" }) })
                }
            }
        }
        return ConfigObject(kind: kind, name: name, tenant: tenant, body: fields, source: source)
    }

    /// `api_key_env` / `credentials[].key_env` → the secret from the environment.
    static func resolveSecrets(_ fields: inout [String: JSONValue], source: String, environment: [String: String]) throws {
        if let variable = fields.removeValue(forKey: "api_key_env")?.stringValue {
            guard let secret = environment[variable], !secret.isEmpty else {
                throw ConfigFileError("\(source): api_key_env names \(variable), which is not set")
            }
            fields["api_key"] = .string(secret)
        }
        guard case .array(let list) = fields["credentials"] ?? .null else { return }
        fields["credentials"] = .array(
            try list.map { entry in
                guard case .object(var credential) = entry, let variable = credential.removeValue(forKey: "key_env")?.stringValue else {
                    return entry
                }
                guard let secret = environment[variable], !secret.isEmpty else {
                    throw ConfigFileError("\(source): key_env names \(variable), which is not set")
                }
                credential["key"] = .string(secret)
                return .object(credential)
            }
        )
    }

    /// Converts what Yams loaded into JSON values.
    static func json(from value: Any?, path: String) throws -> JSONValue {
        switch value {
        case nil: return .null
        case let text as String: return .string(text)
        case let flag as Bool: return .bool(flag)
        case let number as Int: return .int(Int64(number))
        case let number as Double: return .double(number)
        case let list as [Any?]: return .array(try list.map { try Self.json(from: $0, path: path) })
        case let map as [String: Any?]: return .object(try map.mapValues { try Self.json(from: $0, path: path) })
        case let map as [AnyHashable: Any?]:
            var object: [String: JSONValue] = [:]
            for (key, item) in map {
                guard let name = key.base as? String else { throw ConfigFileError("\(path): mapping keys must be strings, not \(key)") }
                object[name] = try Self.json(from: item, path: path)
            }
            return .object(object)
        case is NSNull: return .null
        default:
            if let value { return .string(String(describing: value)) }
            return .null
        }
    }

    /// Pretty, key-sorted text of a JSON value (YAML or JSON), for `get` and `diff`.
    public static func render(_ value: JSONValue, yaml: Bool) -> String {
        if yaml { return YAMLWriter.document(value) }
        guard
            let data = try? JSONSerialization.data(withJSONObject: Self.foundation(value), options: [.prettyPrinted, .sortedKeys, .fragmentsAllowed])
        else { return String(decoding: value.serialized(sortedKeys: true), as: UTF8.self) }
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    static func foundation(_ value: JSONValue) -> Any {
        switch value {
        case .null: NSNull()
        case .bool(let flag): flag
        case .int(let number): Int(number)
        case .double(let number): number
        case .string(let text): text
        case .array(let items): items.map(Self.foundation)
        case .object(let fields): fields.mapValues(Self.foundation)
        }
    }
}

/// Writes JSON values as block-style YAML with sorted keys. Strings that YAML could read as
/// something else are written JSON-quoted (YAML reads JSON strings), numbers as JSON writes them.
enum YAMLWriter {
    static func document(_ value: JSONValue) -> String {
        switch value {
        case .object(let fields) where !fields.isEmpty: return Self.lines(value, indent: 0).joined(separator: "\n") + "\n"
        case .array(let items) where !items.isEmpty: return Self.lines(value, indent: 0).joined(separator: "\n") + "\n"
        default: return Self.scalar(value) + "\n"
        }
    }

    static func lines(_ value: JSONValue, indent: Int) -> [String] {
        let pad = String(repeating: " ", count: indent)
        switch value {
        case .object(let fields):
            return fields.keys.sorted().flatMap { key -> [String] in
                let item = fields[key] ?? .null
                if Self.isBlock(item) { return ["\(pad)\(Self.string(key)):"] + Self.lines(item, indent: indent + 2) }
                return ["\(pad)\(Self.string(key)): \(Self.scalar(item))"]
            }
        case .array(let items):
            return items.flatMap { item -> [String] in
                guard Self.isBlock(item) else { return ["\(pad)- \(Self.scalar(item))"] }
                var nested = Self.lines(item, indent: indent + 2)
                nested[0] = pad + "- " + nested[0].dropFirst(indent + 2)
                return nested
            }
        default:
            return [pad + Self.scalar(value)]
        }
    }

    static func isBlock(_ value: JSONValue) -> Bool {
        switch value {
        case .object(let fields): !fields.isEmpty
        case .array(let items): !items.isEmpty
        default: false
        }
    }

    static func scalar(_ value: JSONValue) -> String {
        switch value {
        case .string(let text): Self.string(text)
        case .object: "{}"
        case .array: "[]"
        default: String(decoding: value.serialized(), as: UTF8.self)
        }
    }

    static let reserved: Set<String> = ["true", "false", "null", "yes", "no", "on", "off", "y", "n", "~"]

    /// Plain when unambiguous (`gpt-4o-mini`, `eu-west`), else JSON-quoted.
    static func string(_ text: String) -> String {
        let plain =
            !text.isEmpty && !Self.reserved.contains(text.lowercased()) && Double(text) == nil
            && text.utf8.first.map { ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 95 } == true
            && text.utf8.allSatisfy { byte in
                (byte >= 48 && byte <= 57) || (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122)
                    || [UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "/")].contains(byte)
            }
        return plain ? text : String(decoding: JSONValue.string(text).serialized(), as: UTF8.self)
    }
}
