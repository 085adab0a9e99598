import Foundation
import SwitchyardCore

/// Validated admin inputs. Each `parse` names the offending field on bad input.
enum AdminInputs {
    static func name(_ reader: InputReader, key: String, pathValue: String?, tenant: Bool = false) throws(AdminError) -> String {
        let given = try reader.string(key)
        if let pathValue, let given, given != pathValue {
            throw .invalid(reader.field(key), "must match the name in the path ('\(pathValue)')")
        }
        guard let name = given ?? pathValue else { throw .invalid(reader.field(key), "is required") }
        try self.checkName(name, field: reader.field(key), tenant: tenant)
        return name
    }

    static func checkName(_ name: String, field: String, tenant: Bool = false) throws(AdminError) {
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

        init(_ json: JSONValue) throws(AdminError) {
            let reader = try InputReader(json, allowed: ["name", "display_name"])
            self.name = try AdminInputs.name(reader, key: "name", pathValue: nil, tenant: true)
            self.displayName = try reader.string("display_name") ?? ""
            guard self.displayName.count <= 200 else { throw .invalid("display_name", "must be at most 200 characters") }
        }
    }

    struct Key {
        var name: String

        init(_ json: JSONValue) throws(AdminError) {
            let reader = try InputReader(json, allowed: ["name"])
            self.name = try reader.string("name") ?? ""
            guard self.name.count <= 200 else { throw .invalid("name", "must be at most 200 characters") }
        }
    }

    struct Provider {
        var name: String
        var kind: ProviderKind
        var baseURL: String
        var apiKey: String?

        init(_ json: JSONValue, pathName: String?) throws(AdminError) {
            let reader = try InputReader(json, allowed: ["name", "kind", "base_url", "api_key"])
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
            self.apiKey = try reader.string("api_key")
            if let apiKey, apiKey.isEmpty || apiKey.count > 4096 {
                throw .invalid("api_key", "must be 1-4096 characters; omit it to keep the stored key")
            }
        }
    }

    struct Model {
        var name: String
        var provider: String
        var upstreamModel: String
        var inputPrice: Double
        var outputPrice: Double

        init(_ json: JSONValue, pathName: String?) throws(AdminError) {
            let reader = try InputReader(
                json,
                allowed: ["name", "provider", "upstream_model", "input_price_per_mtok", "output_price_per_mtok"]
            )
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

        static func price(_ reader: InputReader, _ key: String) throws(AdminError) -> Double {
            guard let price = try reader.number(key) else { throw .invalid(key, "is required (USD per 1M tokens)") }
            guard price.isFinite, price >= 0, price < 1_000_000 else { throw .invalid(key, "must be a number from 0 to 1000000") }
            return price
        }
    }

    struct Route {
        static let maxFallbacks = SnapshotLimits().maxFallbacks
        var alias: String
        var spec: RouteSpec
        var comment: String

        init(_ json: JSONValue, pathAlias: String?) throws(AdminError) {
            let reader = try InputReader(json, allowed: ["alias", "default", "fallbacks", "timeouts", "comment"])
            self.alias = try AdminInputs.name(reader, key: "alias", pathValue: pathAlias)
            guard let defaultReader = try reader.object("default", allowed: ["model"]) else {
                throw .invalid("default", "is required: the target every request goes to, e.g. {\"model\": \"gpt-4o-mini\"}")
            }
            let defaultTarget = try Self.target(defaultReader)
            let fallbackValues = try reader.array("fallbacks") ?? []
            guard fallbackValues.count <= Self.maxFallbacks else {
                throw .invalid("fallbacks", "at most \(Self.maxFallbacks) fallbacks are allowed")
            }
            var fallbacks: [Target] = []
            for (index, value) in fallbackValues.enumerated() {
                fallbacks.append(try Self.target(try InputReader(value, path: "fallbacks[\(index)]", allowed: ["model"])))
            }
            var timeouts = Timeouts()
            if let timeoutReader = try reader.object("timeouts", allowed: ["first_token_ms", "total_ms"]) {
                let range = 1...Timeouts.maximumMs
                timeouts.firstTokenMs = try timeoutReader.integer("first_token_ms", in: range) ?? timeouts.firstTokenMs
                timeouts.totalMs = try timeoutReader.integer("total_ms", in: range) ?? timeouts.totalMs
            }
            self.spec = RouteSpec(defaultTarget: defaultTarget, fallbacks: fallbacks, timeouts: timeouts)
            self.comment = try reader.string("comment") ?? ""
            guard self.comment.count <= 1000 else { throw .invalid("comment", "must be at most 1000 characters") }
        }

        static func target(_ reader: InputReader) throws(AdminError) -> Target {
            let model = try reader.requiredString("model")
            try AdminInputs.checkName(model, field: reader.field("model"))
            return Target(model: model)
        }
    }
}
