import Foundation
import SwitchyardCore
import Testing

struct BudgetMathTests {
    @Test(arguments: [
        // available, need, want, unit → grant
        (Int64(10_000), Int64(1_000), Int64(9_000), Int64(1_000), Int64(3_000)),  // need + a quarter of the rest, whole units
        (10_000, 1_000, 2_000, 1_000, 2_000),  // headroom below the quarter: as asked
        (1_500, 1_000, 9_000, 1_000, 1_000),  // near the limit: the need only
        (999, 1_000, 9_000, 1_000, 0),  // the need does not fit: nothing
        (0, 0, 8_000, 1_000, 0),  // a top-up with nothing left
        (40_000, 0, 8_000, 1_000, 8_000),  // a top-up with room
        (-5_000, 0, 8_000, 1_000, 0),  // over the limit (outage spend): nothing
    ])
    func leaseGrants(available: Int64, need: Int64, want: Int64, unit: Int64, expected: Int64) {
        #expect(LeaseMath.grant(available: available, need: need, want: want, unit: unit) == expected)
    }

    @Test func grantsNeverExceedWhatIsAvailable() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<10_000 {
            let available = Int64.random(in: -1_000...1_000_000, using: &generator)
            let need = Int64.random(in: 0...50_000, using: &generator)
            let unit = Int64.random(in: 0...10_000, using: &generator)
            let want = need + Int64.random(in: 0...500_000, using: &generator)
            let grant = LeaseMath.grant(available: available, need: need, want: want, unit: unit)
            #expect(grant == 0 || (grant >= need && grant <= max(0, available) && grant <= want))
        }
    }

    @Test func windowsFollowTheTimeZone() throws {
        // 2026-11-30 23:30 UTC is already December 1st in Berlin.
        let date = try Date("2026-11-30T23:30:00Z", strategy: .iso8601)
        let utc = BudgetConfig(name: "b", period: .day, timeZone: "UTC", limitMicros: 1)
        let berlin = BudgetConfig(name: "b", period: .month, timeZone: "Europe/Berlin", limitMicros: 1)
        #expect(utc.window(at: date).id == "2026-11-30")
        #expect(utc.window(at: date).end == (try Date("2026-12-01T00:00:00Z", strategy: .iso8601)))
        #expect(berlin.window(at: date).id == "2026-12")
        #expect(berlin.window(at: date).end == (try Date("2026-12-31T23:00:00Z", strategy: .iso8601)))
        #expect(BudgetConfig(name: "b", period: .total, limitMicros: 1).window(at: date) == BudgetWindow(id: "total", end: nil))
    }

    @Test func utcDaysMatchTheCalendar() {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        var generator = SystemRandomNumberGenerator()
        for seconds in [Int64(0), 951_782_400, 1_709_164_800, 4_102_444_799]
            + (0..<2_000).map({ _ in Int64.random(in: 0...4_102_444_800, using: &generator) })
        {
            let parts = calendar.dateComponents([.year, .month, .day], from: Date(timeIntervalSince1970: TimeInterval(seconds)))
            let expected = String(format: "%04d-%02d-%02d", parts.year ?? 0, parts.month ?? 0, parts.day ?? 0)
            #expect(UTCDay.string(unixSeconds: seconds) == expected, "\(seconds)")
        }
    }

    static let badBudgets: [(JSONValue, String)] = [
        (["limit_usd": 5, "period": "week"], "period"),
        (["limit_usd": 5, "time_zone": "Mars/Olympus"], "time_zone"),
        (["period": "day"], "limit_usd"),
        (["limit_usd": -1], "limit_usd"),
        (["limit_usd": 5, "outage_policy": "safe"], "safe_allowance_usd"),
        (["limit_usd": 5, "scope": ["kind": "key"]], "scope.value"),
        (["limit_usd": 5, "scope": ["kind": "team", "value": "x"]], "scope.kind"),
        (["limit_usd": 5, "mode": "strict"], "mode"),
        (["limit_usd": 5, "extra": 1], "extra"),
    ]

    @Test(arguments: Self.badBudgets)
    func badBudgetsNameTheField(json: JSONValue, field: String) {
        #expect(throws: FieldError.self) { try BudgetConfig(json: json, name: "b") }
        do {
            _ = try BudgetConfig(json: json, name: "b")
        } catch {
            #expect(error.field == field, "\(error)")
        }
    }

    @Test func budgetsRoundTripThroughJSON() throws {
        let budget = try BudgetConfig(
            json: [
                "scope": ["kind": "route", "value": "chat"], "period": "day", "time_zone": "Europe/Berlin", "limit_usd": 12.5,
                "mode": "soft", "outage_policy": "safe", "safe_allowance_usd": 0.25,
            ],
            name: "daily"
        )
        #expect(budget.limitMicros == 12_500_000 && budget.safeAllowanceMicros == 250_000)
        #expect(try BudgetConfig(json: budget.json, name: "daily") == budget)
        #expect(budget.applies(keyID: "k", route: "chat", tag: nil) && !budget.applies(keyID: "k", route: "other", tag: nil))
    }
}

struct PriceMathTests {
    @Test func costUsesThePriceInForceAndTheCachedRate() {
        let model = ModelConfig(
            name: "m",
            provider: "p",
            upstreamModel: "u",
            inputPricePerMTok: 2,
            outputPricePerMTok: 10,
            requestPriceMicros: 100,
            priceVersions: [
                ModelPrice(effectiveAtUnixMs: 2_000, inputPerMTok: 4, outputPerMTok: 20, cachedInputPerMTok: 1, requestMicros: 0),
                ModelPrice(effectiveAtUnixMs: 1_000, inputPerMTok: 3, outputPerMTok: 15),
            ]
        )
        // Before any change: the model's own prices and surcharge.
        #expect(model.costMicros(promptTokens: 100, completionTokens: 10, atUnixMs: 500) == 100 * 2 + 10 * 10 + 100)
        #expect(model.costMicros(promptTokens: 100, completionTokens: 10, atUnixMs: 1_500) == 100 * 3 + 10 * 15)
        // Cached prompt tokens at the cached rate; without one, at the input rate.
        #expect(model.costMicros(promptTokens: 100, completionTokens: 10, cachedTokens: 40, atUnixMs: 2_000) == 60 * 4 + 40 * 1 + 10 * 20)
        #expect(model.costMicros(promptTokens: 100, completionTokens: 0, cachedTokens: 40, atUnixMs: 1_500) == 100 * 3)
        // Usage reads cached tokens where providers (and our translators) put them.
        #expect(
            Usage(completion: ["usage": ["prompt_tokens": 10, "completion_tokens": 2, "prompt_tokens_details": ["cached_tokens": 4]]])?.cachedTokens
                == 4
        )
    }
}
