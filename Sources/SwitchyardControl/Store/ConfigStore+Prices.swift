public import Foundation
import PostgresNIO
public import SwitchyardCore

/// One row of the price catalog, as written or read.
public struct PriceRecord: Sendable, Hashable {
    public var model: String
    public var effectiveAt: Date
    public var price: ModelPrice
    public var createdBy: String

    public init(model: String, effectiveAt: Date, price: ModelPrice, createdBy: String = "") {
        self.model = model
        self.effectiveAt = effectiveAt
        self.price = price
        self.createdBy = createdBy
    }
}

extension ConfigStore {
    static func priceRows(_ rows: PostgresRowSequence) async throws -> [PriceRecord] {
        var result: [PriceRecord] = []
        for try await (model, effective, input, output, cached, request, by) in rows.decode(
            (String, Date, Double, Double, Double?, Int64, String).self
        ) {
            let unixMs = Int64((effective.timeIntervalSince1970 * 1000).rounded())
            result.append(
                PriceRecord(
                    model: model,
                    effectiveAt: effective,
                    price: ModelPrice(
                        effectiveAtUnixMs: unixMs,
                        inputPerMTok: input,
                        outputPerMTok: output,
                        cachedInputPerMTok: cached,
                        requestMicros: request
                    ),
                    createdBy: by
                )
            )
        }
        return result
    }

    static let priceColumns =
        "model, effective_at, input_price_per_mtok, output_price_per_mtok, cached_input_price_per_mtok, request_price_micros, created_by"

    /// A model's price changes, oldest first.
    public func prices(model: String) async throws -> [PriceRecord] {
        var binds = PostgresBindings()
        binds.append(model)
        let rows = try await self.boundedQuery(
            PostgresQuery(unsafeSQL: "SELECT \(Self.priceColumns) FROM model_prices WHERE model = $1 ORDER BY effective_at", binds: binds),
            logger: self.logger
        )
        return try await Self.priceRows(rows)
    }

    /// Adds price changes in one transaction: all of them or none. A row for a (model, time)
    /// that exists replaces it. Returns the config version (prices travel in the shared shard).
    public func addPrices(_ records: [PriceRecord], actor: String) async throws -> Int {
        let logger = self.logger
        let models = Array(Set(records.map(\.model))).sorted()
        return try await self.write(
            .init(
                actor: actor,
                action: "price",
                objectType: "model",
                objectID: models.count == 1 ? models[0] : "*",
                shared: true,
                detail: ["models": .array(models.map(JSONValue.string)), "rows": .int(Int64(records.count))]
            )
        ) { connection, _ in
            for (index, record) in records.enumerated() {
                let found = try await connection.query("SELECT 1 FROM models WHERE name = \(record.model)", logger: logger)
                try await Self.requireRow(found, else: StoreError.notFound("model '\(record.model)' does not exist (row \(index + 1))"))
                try await connection.query(
                    """
                    INSERT INTO model_prices (model, effective_at, input_price_per_mtok, output_price_per_mtok, cached_input_price_per_mtok,
                                              request_price_micros, created_by)
                    VALUES (\(record.model), \(record.effectiveAt), \(record.price.inputPerMTok), \(record.price.outputPerMTok),
                            \(record.price.cachedInputPerMTok), \(record.price.requestMicros), \(actor))
                    ON CONFLICT (model, effective_at) DO UPDATE SET input_price_per_mtok = EXCLUDED.input_price_per_mtok,
                        output_price_per_mtok = EXCLUDED.output_price_per_mtok,
                        cached_input_price_per_mtok = EXCLUDED.cached_input_price_per_mtok,
                        request_price_micros = EXCLUDED.request_price_micros, created_by = EXCLUDED.created_by, created_at = now()
                    """,
                    logger: logger
                )
            }
        }.1
    }
}
