public import Foundation

/// A spending cap on a tenant, one of its keys, one of its routes, or a request tag, over a
/// calendar period. Amounts are integer micro-dollars (1 USD = 1 000 000), so sums are exact.
///
/// A hard budget refuses a request whose worst-case cost no longer fits (HTTP 429
/// `budget_exceeded`); a soft one only records and reports. Nodes enforce it through leases from
/// the control plane (docs/budgets.md).
public struct BudgetConfig: Sendable, Hashable {
    public enum Scope: Sendable, Hashable {
        case tenant
        case key(String)
        case route(String)
        case tag(String)

        public var kind: String {
            switch self {
            case .tenant: "tenant"
            case .key: "key"
            case .route: "route"
            case .tag: "tag"
            }
        }

        public var value: String {
            switch self {
            case .tenant: ""
            case .key(let id): id
            case .route(let alias): alias
            case .tag(let tag): tag
            }
        }

        public init?(kind: String, value: String) {
            switch kind {
            case "tenant": self = .tenant
            case "key" where !value.isEmpty: self = .key(value)
            case "route" where !value.isEmpty: self = .route(value)
            case "tag" where !value.isEmpty: self = .tag(value)
            default: return nil
            }
        }
    }

    public enum Period: String, Sendable, Hashable, CaseIterable {
        case day, month, total
        /// UTC minutes: the windows of rate limits (``RateLimits``), not offered for budgets.
        case minute
    }

    /// What a limit counts. Budgets count micro-dollars; rate limits and provider capacity count
    /// requests or tokens per minute through the same leases.
    public enum Metric: String, Sendable, Hashable {
        case usd
        case requests
        case tokens
    }

    public enum Mode: String, Sendable, Hashable, CaseIterable {
        /// Refuse what does not fit.
        case hard
        /// Record and report only.
        case soft
    }

    /// What a node does when its lease has run out and the control plane cannot be reached.
    public enum OutagePolicy: String, Sendable, Hashable, CaseIterable {
        /// Refuse (no overshoot).
        case deny
        /// Spend at most `safe_allowance_usd` per node and window, then refuse.
        case safe
        /// Serve (the budget is not enforced until the control plane is back).
        case allow
    }

    public static let maxPerTenant = 256
    public static let maxLimitMicros: Int64 = 1_000_000_000 * 1_000_000

    public var name: String
    public var scope: Scope
    public var period: Period
    /// IANA time zone of the calendar periods (`UTC`, `Europe/Berlin`, …).
    public var timeZone: String
    public var limitMicros: Int64
    public var mode: Mode
    public var outagePolicy: OutagePolicy
    public var safeAllowanceMicros: Int64
    /// What `limitMicros` and the lease amounts count (micro-dollars for every budget).
    public var metric: Metric = .usd
    /// Percentages of the limit whose crossing sends a `budget.threshold` webhook event, once per
    /// window, ascending.
    public var alertThresholds: [Int] = Self.defaultAlertThresholds

    public static let defaultAlertThresholds = [50, 80, 100]

    public init(
        name: String,
        scope: Scope = .tenant,
        period: Period = .month,
        timeZone: String = "UTC",
        limitMicros: Int64,
        mode: Mode = .hard,
        outagePolicy: OutagePolicy = .deny,
        safeAllowanceMicros: Int64 = 0
    ) {
        self.name = name
        self.scope = scope
        self.period = period
        self.timeZone = timeZone
        self.limitMicros = limitMicros
        self.mode = mode
        self.outagePolicy = outagePolicy
        self.safeAllowanceMicros = safeAllowanceMicros
    }

    public static let fields: Set<String> = [
        "name", "scope", "period", "time_zone", "limit_usd", "mode", "outage_policy", "safe_allowance_usd", "alert_thresholds_percent",
    ]

    /// Parses the admin API's JSON form:
    /// `{"name", "scope": {"kind": "tenant|key|route|tag", "value"}, "period": "day|month|total",
    /// "time_zone", "limit_usd", "mode": "hard|soft", "outage_policy": "deny|safe|allow",
    /// "safe_allowance_usd", "alert_thresholds_percent": [50, 80, 100]}`.
    public init(json: JSONValue, name pathName: String? = nil) throws(FieldError) {
        let reader = try FieldReader(json, allowed: Self.fields)
        let name = try reader.string("name") ?? pathName ?? ""
        if let pathName, name != pathName { throw .invalid("name", "must match the name in the path ('\(pathName)')") }
        guard Names.isValidObjectName(name) else {
            throw .invalid("name", "must be 1-128 letters, digits or '._:-', starting with a letter or digit")
        }
        var scope = Scope.tenant
        if let value = try reader.object("scope", allowed: ["kind", "value"]) {
            let kind = try value.string("kind") ?? "tenant"
            let target = try value.string("value") ?? ""
            guard let parsed = Scope(kind: kind, value: target) else {
                throw .invalid(
                    kind == "tenant" || !["key", "route", "tag"].contains(kind) ? value.field("kind") : value.field("value"),
                    ["key", "route", "tag", "tenant"].contains(kind)
                        ? "a \(kind) budget needs the \(kind) in 'value'" : "must be tenant, key, route or tag"
                )
            }
            if case .tenant = parsed, !target.isEmpty { throw .invalid(value.field("value"), "a tenant budget takes no value") }
            guard target.utf8.count <= 256 else { throw .invalid(value.field("value"), "must be at most 256 bytes") }
            scope = parsed
        }
        let periodText = try reader.string("period") ?? "month"
        guard let period = Period(rawValue: periodText), period != .minute else { throw .invalid("period", "must be day, month or total") }
        let zone = try reader.string("time_zone") ?? "UTC"
        guard TimeZone(identifier: zone) != nil else { throw .invalid("time_zone", "must be an IANA time zone, e.g. UTC or Europe/Berlin") }
        guard let limit = try reader.number("limit_usd", in: 0...1_000_000_000) else {
            throw .invalid("limit_usd", "is required (USD, up to 1e9)")
        }
        let modeText = try reader.string("mode") ?? "hard"
        guard let mode = Mode(rawValue: modeText) else { throw .invalid("mode", "must be hard or soft") }
        let policyText = try reader.string("outage_policy") ?? "deny"
        guard let policy = OutagePolicy(rawValue: policyText) else { throw .invalid("outage_policy", "must be deny, safe or allow") }
        let allowance = try reader.number("safe_allowance_usd", in: 0...1_000_000_000) ?? 0
        if policy == .safe, allowance == 0 {
            throw .invalid("safe_allowance_usd", "is required with outage_policy 'safe' (USD per node and window)")
        }
        self.init(
            name: name,
            scope: scope,
            period: period,
            timeZone: zone,
            limitMicros: Self.micros(limit),
            mode: mode,
            outagePolicy: policy,
            safeAllowanceMicros: Self.micros(allowance)
        )
        if let list = try reader.array("alert_thresholds_percent") {
            guard list.count <= 10 else { throw .invalid("alert_thresholds_percent", "at most 10 thresholds") }
            var thresholds: [Int] = []
            for (index, value) in list.enumerated() {
                guard let percent = value.intValue, (1...1_000).contains(percent) else {
                    throw .invalid("alert_thresholds_percent[\(index)]", "must be a whole percentage from 1 to 1000")
                }
                thresholds.append(Int(percent))
            }
            self.alertThresholds = Array(Set(thresholds)).sorted()
        }
    }

    /// The thresholds crossed when a window's spend goes to `spent`, above `alerted` (the highest
    /// already sent), ascending.
    public func crossedThresholds(spent: Int64, alerted: Int) -> [Int] {
        guard self.limitMicros > 0 else { return self.alertThresholds.filter { $0 > alerted && spent > 0 } }
        return self.alertThresholds.filter { $0 > alerted && spent * 100 >= Int64($0) * self.limitMicros }
    }

    public var json: JSONValue {
        [
            "name": .string(self.name),
            "scope": ["kind": .string(self.scope.kind), "value": self.scope.value.isEmpty ? .null : .string(self.scope.value)],
            "period": .string(self.period.rawValue), "time_zone": .string(self.timeZone),
            "limit_usd": .double(Self.usd(self.limitMicros)), "mode": .string(self.mode.rawValue),
            "outage_policy": .string(self.outagePolicy.rawValue), "safe_allowance_usd": .double(Self.usd(self.safeAllowanceMicros)),
            "alert_thresholds_percent": .array(self.alertThresholds.map { .int(Int64($0)) }),
        ]
    }

    public static func micros(_ usd: Double) -> Int64 { Int64((usd * 1_000_000).rounded()) }
    public static func usd(_ micros: Int64) -> Double { Double(micros) / 1_000_000 }

    /// Whether a request of this tenant counts against the budget.
    public func applies(keyID: String, route: String, tag: String?) -> Bool {
        switch self.scope {
        case .tenant: true
        case .key(let id): id == keyID
        case .route(let alias): alias == route
        case .tag(let value): tag == value
        }
    }

    /// The calendar window `date` falls in: its id (`2026-11-22`, `2026-11`, `total`) and when it ends.
    public func window(at date: Date) -> BudgetWindow {
        guard self.period != .total else { return BudgetWindow(id: "total", end: nil) }
        if self.period == .minute { return UTCDay.minute(at: date) }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: self.timeZone) ?? TimeZone(identifier: "UTC")!
        let parts = calendar.dateComponents([.year, .month, .day], from: date)
        let year = parts.year ?? 1970
        let month = parts.month ?? 1
        func pad(_ number: Int) -> String { number < 10 ? "0\(number)" : String(number) }
        switch self.period {
        case .day:
            let start = calendar.startOfDay(for: date)
            return BudgetWindow(id: "\(year)-\(pad(month))-\(pad(parts.day ?? 1))", end: calendar.date(byAdding: .day, value: 1, to: start))
        default:
            let start = calendar.date(from: DateComponents(year: year, month: month, day: 1)) ?? date
            return BudgetWindow(id: "\(year)-\(pad(month))", end: calendar.date(byAdding: .month, value: 1, to: start))
        }
    }
}

/// UTC calendar days from Unix time, without a `Calendar` (the hot path asks on every request).
public enum UTCDay {
    /// `2026-11-22` for a Unix time in seconds.
    public static func string(unixSeconds: Int64) -> String {
        // Days to civil date (proleptic Gregorian), after Howard Hinnant's `civil_from_days`.
        let days = Int64((Double(unixSeconds) / 86_400).rounded(.down)) + 719_468
        let era = (days >= 0 ? days : days - 146_096) / 146_097
        let dayOfEra = days - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        func pad(_ number: Int64) -> String { number < 10 ? "0\(number)" : String(number) }
        return "\(year)-\(pad(month))-\(pad(day))"
    }

    /// The UTC minute `date` falls in: `2026-11-22T07:31`, ending at the next minute.
    public static func minute(at date: Date) -> BudgetWindow {
        let seconds = Int64(date.timeIntervalSince1970.rounded(.down))
        let start = seconds - ((seconds % 60) + 60) % 60
        let inDay = ((start % 86_400) + 86_400) % 86_400
        let hour = inDay / 3_600
        let minute = (inDay % 3_600) / 60
        func pad(_ number: Int64) -> String { number < 10 ? "0\(number)" : String(number) }
        return BudgetWindow(
            id: "\(Self.string(unixSeconds: start))T\(pad(hour)):\(pad(minute))",
            end: Date(timeIntervalSince1970: TimeInterval(start + 60))
        )
    }
}

/// One period of a budget.
public struct BudgetWindow: Sendable, Hashable {
    public var id: String
    /// nil for `total`.
    public var end: Date?

    public init(id: String, end: Date?) {
        self.id = id
        self.end = end
    }
}

/// One lease item of the lease protocol (proto-schemas/switchyard/v1/lease.proto): a node's
/// cumulative spend on a lease, what it needs now and what headroom it wants.
public struct LeaseAsk: Sendable, Hashable {
    public var tenant: String
    public var budget: String
    public var window: String
    public var spentMicros: Int64
    public var needMicros: Int64
    public var wantMicros: Int64
    public var unitMicros: Int64
    public var release: Bool

    public init(
        tenant: String,
        budget: String,
        window: String,
        spentMicros: Int64,
        needMicros: Int64,
        wantMicros: Int64,
        unitMicros: Int64,
        release: Bool
    ) {
        self.tenant = tenant
        self.budget = budget
        self.window = window
        self.spentMicros = spentMicros
        self.needMicros = needMicros
        self.wantMicros = wantMicros
        self.unitMicros = unitMicros
        self.release = release
    }
}

/// How much a lease may grow: the control plane's side of the lease protocol.
public enum LeaseMath {
    /// What to add to a node's lease. `available` is the budget's limit minus what is spent and
    /// every lease's unspent part (this node's included). `need` must be granted whole or not at
    /// all (the request at hand); beyond it the node gets at most a quarter of what would remain,
    /// in whole `unit`s (its typical request cost), so leases shrink as the budget nears its
    /// limit and no lease ends holding a useless fragment.
    public static func grant(available: Int64, need: Int64, want: Int64, unit: Int64) -> Int64 {
        guard need >= 0, available >= need else { return 0 }
        let extraWanted = max(0, want - need)
        let room = (available - need) / 4
        let extra = unit > 0 ? min(extraWanted, (room / unit) * unit) : min(extraWanted, room)
        return need + max(0, extra)
    }
}

/// A model's prices from a point in time on (a row of the price catalog).
public struct ModelPrice: Sendable, Hashable {
    public var effectiveAtUnixMs: Int64
    /// USD per one million tokens.
    public var inputPerMTok: Double
    public var outputPerMTok: Double
    /// For prompt tokens the provider served from its cache; nil = the input price.
    public var cachedInputPerMTok: Double?
    public var requestMicros: Int64

    public init(effectiveAtUnixMs: Int64, inputPerMTok: Double, outputPerMTok: Double, cachedInputPerMTok: Double? = nil, requestMicros: Int64 = 0) {
        self.effectiveAtUnixMs = effectiveAtUnixMs
        self.inputPerMTok = inputPerMTok
        self.outputPerMTok = outputPerMTok
        self.cachedInputPerMTok = cachedInputPerMTok
        self.requestMicros = requestMicros
    }
}

extension ModelConfig {
    /// The prices in force at `unixMs`: the newest version that took effect by then, else the
    /// model's own.
    public func price(atUnixMs unixMs: Int64) -> ModelPrice {
        if let version = self.priceVersions.last(where: { $0.effectiveAtUnixMs <= unixMs }) { return version }
        return ModelPrice(
            effectiveAtUnixMs: 0,
            inputPerMTok: self.inputPricePerMTok,
            outputPerMTok: self.outputPricePerMTok,
            requestMicros: self.requestPriceMicros
        )
    }

    /// The cost of a request in micro-dollars (rounded up) at the prices in force at `unixMs`:
    /// prompt tokens (those served from the provider's cache at the cached-input price),
    /// completion tokens, and the per-request price.
    public func costMicros(promptTokens: Int, completionTokens: Int, cachedTokens: Int = 0, atUnixMs unixMs: Int64 = ModelConfig.nowUnixMs()) -> Int64
    {
        let price = self.price(atUnixMs: unixMs)
        let cached = max(0, min(cachedTokens, promptTokens))
        let micros =
            Double(promptTokens - cached) * price.inputPerMTok + Double(cached) * (price.cachedInputPerMTok ?? price.inputPerMTok)
            + Double(completionTokens) * price.outputPerMTok
        return Int64(min(micros.rounded(.up), 1e15)) + price.requestMicros
    }

    public static func nowUnixMs() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) }
}
