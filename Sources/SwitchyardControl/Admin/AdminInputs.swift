import Foundation
import SwitchyardCore

/// Validated admin inputs. Each `parse` names the offending field on bad input.
enum AdminInputs {
    static func name(_ reader: FieldReader, key: String, pathValue: String?, tenant: Bool = false) throws(FieldError) -> String {
        let given = try reader.string(key)
        if let pathValue, let given, given != pathValue {
            throw .invalid(reader.field(key), "must match the name in the path ('\(pathValue)')")
        }
        guard let name = given ?? pathValue else { throw .invalid(reader.field(key), "is required") }
        try self.checkName(name, field: reader.field(key), tenant: tenant)
        return name
    }

    static func checkName(_ name: String, field: String, tenant: Bool = false) throws(FieldError) {
        if tenant {
            guard Names.isValidTenant(name) else {
                throw .invalid(field, "must be 1-63 lower-case letters, digits or dashes, starting with a letter or digit")
            }
        } else {
            guard Names.isValidObjectName(name) else {
                throw .invalid(field, "must be 1-128 letters, digits or '._:-', starting with a letter or digit")
            }
        }
    }

    struct Tenant {
        var name: String
        var displayName: String
        var labels: [String: String]
        var policy: ServingPolicy
        var rateLimits: RateLimits

        init(_ json: JSONValue) throws(FieldError) {
            let reader = try FieldReader(json, allowed: ["name", "display_name", "labels", "policy", "rate_limits"])
            self.policy = try reader.value("policy").map { value throws(FieldError) in try ServingPolicy(json: value) } ?? ServingPolicy()
            self.rateLimits =
                try reader.value("rate_limits").map { value throws(FieldError) in try RateLimits(json: value, field: "rate_limits") } ?? RateLimits()
            self.name = try AdminInputs.name(reader, key: "name", pathValue: nil, tenant: true)
            self.displayName = try reader.string("display_name") ?? ""
            guard self.displayName.count <= 200 else { throw .invalid("display_name", "must be at most 200 characters") }
            self.labels = try reader.labels("labels") ?? [:]
        }
    }

    struct Key {
        static let maxAllowedRoutes = 256
        static let fields: Set<String> = ["name", "labels", "expires_at", "allowed_routes", "metadata", "policy", "rate_limits"]
        var settings: KeySettings

        init(_ json: JSONValue, now: Date = Date()) throws(FieldError) {
            let reader = try FieldReader(json, allowed: Self.fields)
            let name = try reader.string("name") ?? ""
            guard name.count <= 200 else { throw .invalid("name", "must be at most 200 characters") }
            var settings = KeySettings(name: name, labels: try reader.labels("labels") ?? [:])
            settings.policy = try reader.value("policy").map { value throws(FieldError) in try ServingPolicy(json: value) } ?? ServingPolicy()
            settings.rateLimits =
                try reader.value("rate_limits").map { value throws(FieldError) in try RateLimits(json: value, field: "rate_limits") } ?? RateLimits()
            if let text = try reader.string("expires_at") {
                guard let date = try? Date(text, strategy: .iso8601) else {
                    throw .invalid("expires_at", "must be an RFC 3339 time with a zone, e.g. 2027-01-31T00:00:00Z")
                }
                guard date > now else { throw .invalid("expires_at", "must be in the future") }
                settings.expiresAt = date
            }
            let routes = try reader.array("allowed_routes") ?? []
            guard routes.count <= Self.maxAllowedRoutes else {
                throw .invalid("allowed_routes", "at most \(Self.maxAllowedRoutes) routes are allowed; omit it to allow every route")
            }
            for (index, value) in routes.enumerated() {
                guard let alias = value.stringValue else { throw .invalid("allowed_routes[\(index)]", "must be a route alias (a string)") }
                try AdminInputs.checkName(alias, field: "allowed_routes[\(index)]")
                if !settings.allowedRoutes.contains(alias) { settings.allowedRoutes.append(alias) }
            }
            settings.allowedRoutes.sort()
            if let value = reader.value("metadata") {
                guard case .object(let fields) = value, fields.count <= 64 else {
                    throw .invalid("metadata", "must be an object of at most 64 strings")
                }
                for (key, entry) in fields {
                    guard let text = entry.stringValue, text.utf8.count <= 1_024, !text.utf8.contains(0), key.utf8.count <= 128 else {
                        throw .invalid("metadata.\(key)", "must be a string of at most 1024 bytes (keys at most 128)")
                    }
                    settings.metadata[key] = text
                }
            }
            self.settings = settings
        }
    }

    struct Provider {
        var name: String
        var kind: ProviderKind
        var baseURL: String
        /// `nil` keeps the stored credentials on replace.
        var credentials: [ProviderCredential]?

        static let maxCredentials = 16

        init(_ json: JSONValue, pathName: String?) throws(FieldError) {
            let reader = try FieldReader(json, allowed: ["name", "kind", "base_url", "api_key", "credentials"])
            self.name = try AdminInputs.name(reader, key: "name", pathValue: pathName)
            let kind = try reader.requiredString("kind")
            guard let parsed = ProviderKind(rawValue: kind) else {
                throw .invalid("kind", "must be one of: \(ProviderKind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            self.kind = parsed
            let baseURL = try reader.requiredString("base_url")
            guard let url = URL(string: baseURL), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil else {
                throw .invalid("base_url", "must be an absolute http:// or https:// URL")
            }
            self.baseURL = baseURL
            if let apiKey = try reader.string("api_key") {
                guard reader.value("credentials") == nil else {
                    throw .invalid("credentials", "give either api_key (one key) or credentials (several), not both")
                }
                try Self.checkKey(apiKey, field: "api_key")
                self.credentials = [ProviderCredential(name: "default", key: apiKey, weight: 1)]
            } else if let list = try reader.array("credentials") {
                guard list.count <= Self.maxCredentials else {
                    throw .invalid("credentials", "at most \(Self.maxCredentials) credentials are allowed")
                }
                var credentials: [ProviderCredential] = []
                var names = Set<String>()
                for (index, value) in list.enumerated() {
                    let entry = try FieldReader(value, path: "credentials[\(index)]", allowed: ["name", "key", "weight", "capacity"])
                    let name = try entry.requiredString("name")
                    try AdminInputs.checkName(name, field: entry.field("name"))
                    guard names.insert(name).inserted else { throw .invalid(entry.field("name"), "duplicate credential name '\(name)'") }
                    let key = try entry.requiredString("key")
                    try Self.checkKey(key, field: entry.field("key"))
                    let weight = try entry.integer("weight", in: 0...1_000) ?? 1
                    let capacity = try entry.value("capacity").map { value throws(FieldError) in
                        try RateLimits(json: value, field: entry.field("capacity"))
                    }
                    credentials.append(ProviderCredential(name: name, key: key, weight: weight, capacity: capacity ?? RateLimits()))
                }
                if !credentials.isEmpty, !credentials.contains(where: { $0.weight > 0 }) {
                    throw .invalid("credentials", "at least one credential needs a weight above 0")
                }
                self.credentials = credentials
            } else {
                self.credentials = nil
            }
        }

        static func checkKey(_ key: String, field: String) throws(FieldError) {
            guard !key.isEmpty, key.count <= 4096 else {
                throw .invalid(field, "must be 1-4096 characters; omit it to keep the stored credentials")
            }
        }
    }

    struct Model {
        var name: String
        var provider: String
        var upstreamModel: String
        var inputPrice: Double
        var outputPrice: Double
        var tags: [String: String]
        var capabilities: [String]
        var requestPriceMicros: Int64

        init(_ json: JSONValue, pathName: String?) throws(FieldError) {
            let reader = try FieldReader(
                json,
                allowed: [
                    "name", "provider", "upstream_model", "input_price_per_mtok", "output_price_per_mtok", "request_price_usd", "tags",
                    "capabilities",
                ]
            )
            self.requestPriceMicros = BudgetConfig.micros(try reader.number("request_price_usd", in: 0...1_000) ?? 0)
            self.tags = try reader.labels("tags") ?? [:]
            var capabilities = Set<String>()
            for (index, value) in (try reader.array("capabilities") ?? []).enumerated() {
                guard let name = value.stringValue, Names.isValidLabelKey(name) else {
                    throw .invalid("capabilities[\(index)]", "must be a capability name (letters, digits or '._-'), e.g. tools, vision")
                }
                capabilities.insert(name)
            }
            guard capabilities.count <= 32 else { throw .invalid("capabilities", "at most 32 capabilities") }
            self.capabilities = capabilities.sorted()
            self.name = try AdminInputs.name(reader, key: "name", pathValue: pathName)
            self.provider = try reader.requiredString("provider")
            try AdminInputs.checkName(self.provider, field: "provider")
            self.upstreamModel = try reader.requiredString("upstream_model")
            guard !self.upstreamModel.isEmpty, self.upstreamModel.count <= 256 else {
                throw .invalid("upstream_model", "must be 1-256 characters")
            }
            self.inputPrice = try Self.price(reader, "input_price_per_mtok")
            self.outputPrice = try Self.price(reader, "output_price_per_mtok")
        }

        static func price(_ reader: FieldReader, _ key: String) throws(FieldError) -> Double {
            guard let price = try reader.number(key) else { throw .invalid(key, "is required (USD per 1M tokens)") }
            guard price.isFinite, price >= 0, price < 1_000_000 else { throw .invalid(key, "must be a number from 0 to 1000000") }
            return price
        }
    }

    struct Route {
        var alias: String
        var spec: RouteSpec
        var comment: String

        init(_ json: JSONValue, pathAlias: String?) throws(FieldError) {
            let reader = try FieldReader(json, allowed: RouteSpec.fields.union(["alias", "comment"]))
            self.alias = try AdminInputs.name(reader, key: "alias", pathValue: pathAlias)
            self.spec = try RouteSpec(reading: reader)
            self.comment = try reader.string("comment") ?? ""
            guard self.comment.count <= 1000 else { throw .invalid("comment", "must be at most 1000 characters") }
        }
    }
}
