import Foundation
import Hummingbird
import SwitchyardCore

/// The price catalog: `GET|POST /admin/v1/models/{model}/prices` (a model's price changes) and
/// `POST /admin/v1/prices/import` (many rows, all or none).
extension AdminAPI {
    static let priceEndpoints: [(method: String, path: String)] = [
        ("GET", "/admin/v1/models/{model}/prices"), ("POST", "/admin/v1/models/{model}/prices"),
        ("POST", "/admin/v1/prices/import"),
    ]

    static let maxImportRows = 10_000

    func registerPrices(on admin: RouterGroup<some RequestContext>) {
        // Readable by every token, like the rest of the model catalog.
        admin.get("models/:model/prices") { _, context in
            let name = try Self.param(context, "model")
            guard try await self.store.model(name) != nil else { throw AdminError.notFound("model '\(name)' does not exist") }
            return Self.list(try await self.store.prices(model: name).map(Self.render))
        }
        admin.post("models/:model/prices") { request, context in
            try self.authorizePlatform(.write)
            let name = try Self.param(context, "model")
            guard try await self.store.model(name) != nil else { throw AdminError.notFound("model '\(name)' does not exist") }
            let record = try Self.priceRecord(try await Self.body(request, context), model: name, path: "")
            let version = try await self.mapped { try await self.store.addPrices([record], actor: self.actor) }
            return Response.json(Self.render(record), status: .created, headers: Self.versionHeader(version))
        }
        admin.post("prices/import") { request, context in
            try self.authorizePlatform(.write)
            let reader = try FieldReader(try await Self.body(request, context), allowed: ["prices"])
            guard let rows = try reader.array("prices"), !rows.isEmpty, rows.count <= Self.maxImportRows else {
                throw AdminError.invalid("prices", "must be a list of 1-\(Self.maxImportRows) price rows")
            }
            let records = try rows.enumerated().map { index, row in try Self.priceRecord(row, model: nil, path: "prices[\(index)]") }
            let version: Int
            do {
                version = try await self.store.addPrices(records, actor: self.actor)
            } catch let error as StoreError where error.code == .notFound {
                // Name the row: "model 'x' does not exist (row 3)".
                let row = error.message.split(separator: "row ").last.flatMap { Int($0.dropLast()) } ?? 1
                throw AdminError.invalid("prices[\(row - 1)].model", error.message)
            } catch let error as StoreError {
                throw Self.map(error)
            }
            return Response.json(["imported": .int(Int64(records.count))], headers: Self.versionHeader(version))
        }
    }

    /// A price row from JSON: `model` (unless in the path), `effective_at` (RFC 3339; default
    /// now), `input_price_per_mtok`, `output_price_per_mtok`, `cached_input_price_per_mtok`,
    /// `request_price_usd`.
    static func priceRecord(_ json: JSONValue, model: String?, path: String) throws -> PriceRecord {
        var allowed: Set<String> = [
            "effective_at", "input_price_per_mtok", "output_price_per_mtok", "cached_input_price_per_mtok", "request_price_usd",
        ]
        if model == nil { allowed.insert("model") }
        let reader = try FieldReader(json, path: path, allowed: allowed)
        let name = try model ?? reader.requiredString("model")
        var effective = Date()
        if let text = try reader.string("effective_at") {
            guard let date = try? Date(text, strategy: .iso8601) else {
                throw AdminError.invalid(reader.field("effective_at"), "must be an RFC 3339 time with a zone, e.g. 2027-01-01T00:00:00Z")
            }
            effective = date
        }
        func price(_ key: String, required: Bool) throws -> Double? {
            guard let value = try reader.number(key) else {
                if required { throw AdminError.invalid(reader.field(key), "is required (USD per 1M tokens)") }
                return nil
            }
            guard value.isFinite, value >= 0, value < 1_000_000 else { throw AdminError.invalid(reader.field(key), "must be from 0 to 1000000") }
            return value
        }
        let request = try reader.number("request_price_usd", in: 0...1_000) ?? 0
        return PriceRecord(
            model: name,
            effectiveAt: effective,
            price: ModelPrice(
                effectiveAtUnixMs: Int64((effective.timeIntervalSince1970 * 1000).rounded()),
                inputPerMTok: try price("input_price_per_mtok", required: true) ?? 0,
                outputPerMTok: try price("output_price_per_mtok", required: true) ?? 0,
                cachedInputPerMTok: try price("cached_input_price_per_mtok", required: false),
                requestMicros: BudgetConfig.micros(request)
            )
        )
    }

    static func render(_ record: PriceRecord) -> JSONValue {
        [
            "model": .string(record.model), "effective_at": timestamp(record.effectiveAt),
            "input_price_per_mtok": .double(record.price.inputPerMTok), "output_price_per_mtok": .double(record.price.outputPerMTok),
            "cached_input_price_per_mtok": record.price.cachedInputPerMTok.map(JSONValue.double) ?? .null,
            "request_price_usd": .double(BudgetConfig.usd(record.price.requestMicros)),
        ]
    }
}
