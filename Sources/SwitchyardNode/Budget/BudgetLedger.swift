import Foundation
import SwitchyardCore
import Synchronization

/// The budget leases this node holds, and the spend it has not reported yet.
///
/// A request reserves its worst-case cost from the lease of every budget that applies to it
/// (all or nothing), in memory. Only when a lease cannot cover the request does the request wait
/// for the control plane (``LeaseCaller``); the ``LeaseReporter`` keeps leases topped up ahead of
/// demand, so that is rare. When the request ends, the reservation is settled at the actual cost.
final class BudgetLedger: Sendable {
    struct Key: Hashable, Sendable {
        var tenant: String
        var budget: String
        var window: String
    }

    struct Lease: Sendable {
        var config: BudgetConfig
        var granted: Int64 = 0
        /// Settled spend (outage spend included), cumulative for the lease.
        var spent: Int64 = 0
        /// Reservations of requests in flight.
        var reserved: Int64 = 0
        /// What the control plane last acknowledged of `spent`.
        var reportedSpent: Int64 = 0
        /// Until when `granted` may be spent (nil: nothing granted yet).
        var expires: ContinuousClock.Instant?
        /// The recent request cost: headroom is asked for in these units.
        var unit: Int64 = 0
        /// Reserved since the reporter's last round: the spend rate the lease must keep up with.
        var recent: Int64 = 0
        /// Reserved in the reporter's previous round.
        var previous: Int64 = 0

        /// Headroom to hold: a few requests, or two report intervals at the recent rate,
        /// whichever is more, so that a busy node does not wait for the control plane.
        func headroom(units: Int64) -> Int64 {
            max(units * max(self.unit, 1), 2 * max(self.recent, self.previous))
        }
        var lastUsed: ContinuousClock.Instant
        /// Spent under the `safe` outage policy in this window.
        var outageSpent: Int64 = 0
        /// The control plane just refused to grow this lease: until then, requests short of it are
        /// refused without asking again.
        var refusedUntil: ContinuousClock.Instant?
        var windowSpent: Int64 = 0

        func free(at now: ContinuousClock.Instant) -> Int64 {
            guard let expires, now < expires else { return 0 }
            return max(0, self.granted - self.spent - self.reserved)
        }
    }

    /// One limit a request must fit: a budget (micro-dollars), or a rate limit or credential
    /// capacity (requests or tokens per minute), with the amount the request reserves from it.
    struct Entry: Sendable {
        var tenant: String
        var config: BudgetConfig
        var amount: Int64
    }

    /// What a request holds until it settles.
    struct Reservation: Sendable {
        struct Part: Sendable {
            var key: Key
            var amount: Int64
            var metric: BudgetConfig.Metric
        }

        var parts: [Part]

        static let none = Reservation(parts: [])

        /// The amount reserved in micro-dollars (the same for every budget).
        var usdAmount: Int64 { self.parts.first { $0.metric == .usd }?.amount ?? 0 }
        var tokenAmount: Int64 { self.parts.first { $0.metric == .tokens }?.amount ?? 0 }
    }

    /// What a request used, for settling: nil where the provider did not say (the reservation
    /// is charged). A request not answered uses no money and no tokens, but counts as a request.
    struct Actual: Sendable {
        var answered: Bool
        var costMicros: Int64?
        var tokens: Int64?

        /// Charges every reservation in full.
        static let worstCase = Actual(answered: true, costMicros: nil, tokens: nil)

        func amount(for part: Reservation.Part) -> Int64 {
            switch part.metric {
            case .requests: part.amount
            case .usd: self.answered ? (self.costMicros ?? part.amount) : 0
            case .tokens: self.answered ? (self.tokens ?? part.amount) : 0
            }
        }
    }

    /// How a lease request for one key ended.
    enum Refill: Sendable {
        case granted
        case refused
        case unreachable
        /// The budget no longer exists.
        case gone
    }

    struct Settings: Sendable {
        /// Headroom asked for, in units of the recent request cost.
        var headroomUnits: Int64 = 8
        /// A lease unused this long (and with nothing in flight) is handed back.
        var idleRelease: Duration = .seconds(10)
        /// How long a refusal is remembered before the control plane is asked again.
        var refusalMemory: Duration = .milliseconds(250)
    }

    let settings: Settings
    let leases = Mutex<[Key: Lease]>([:])
    let usage = Mutex<UsageBuffer>(UsageBuffer())
    /// The current window per (time zone, period), kept until it ends: computing one needs a
    /// `Calendar`, too slow for every request.
    let windows = Mutex<[String: (window: BudgetWindow, end: Date)]>([:])

    /// The window of `config` at `now`, from the cache while it lasts.
    func window(of config: BudgetConfig, at now: Date) -> BudgetWindow {
        guard config.period != .total else { return BudgetWindow(id: "total", end: nil) }
        let key = config.timeZone + "/" + config.period.rawValue
        if let cached = self.windows.withLock({ $0[key] }), now < cached.end, cached.end.timeIntervalSince(now) < 32 * 86_400 {
            return cached.window
        }
        let window = config.window(at: now)
        if let end = window.end { self.windows.withLock { $0[key] = (window, end) } }
        return window
    }
    let caller: LeaseCaller
    /// Called when a request waits for the control plane (`switchyard_lease_waits_total`).
    let onWait: @Sendable () -> Void

    init(caller: LeaseCaller, settings: Settings = Settings(), onWait: @escaping @Sendable () -> Void = {}) {
        self.caller = caller
        self.settings = settings
        self.onWait = onWait
    }

    /// Reserves each entry's amount from its limit (all or nothing), or throws the refusal a
    /// client gets: 429 `budget_exceeded` when a hard budget has no room, 429 `rate_limit_exceeded`
    /// when a rate limit has none this minute, 503 `budget_unavailable` when a lease ran out, the
    /// control plane cannot be reached and the budget's outage policy is `deny` (or its `safe`
    /// allowance is spent). With `wait` false, answers nil instead of asking the control plane.
    func reserve(_ limits: [Entry], now: Date = Date(), wait: Bool = true) async throws(APIError) -> Reservation? {
        guard !limits.isEmpty else { return Reservation.none }
        let entries = limits.map { entry in
            (
                key: Key(tenant: entry.tenant, budget: entry.config.name, window: self.window(of: entry.config, at: now).id),
                config: entry.config, amount: entry.amount
            )
        }
        var outcomes: [Key: Refill] = [:]
        for round in 0...3 {
            let instant = ContinuousClock.now
            let asked = outcomes
            let result: Result<[Key: Int64], APIError> = self.leases.withLock { state in
                var short: [Key: Int64] = [:]
                for entry in entries {
                    var lease = state[entry.key] ?? Lease(config: entry.config, lastUsed: instant)
                    lease.config = entry.config
                    lease.unit = entry.amount
                    lease.lastUsed = instant
                    state[entry.key] = lease
                    // A budget the control plane no longer knows constrains nothing.
                    if asked[entry.key] == .gone { continue }
                    if lease.free(at: instant) < entry.amount { short[entry.key] = entry.amount }
                }
                var overdrafts: [Key] = []
                for key in short.keys.sorted(by: { $0.budget < $1.budget }) {
                    guard let config = state[key]?.config, let amount = short[key] else { continue }
                    switch asked[key] {
                    case nil, .granted, .gone:
                        // Not asked yet, or raced by another request on this node: ask (again),
                        // three times at most.
                        if round < 3 { return .success(short) }
                        if config.mode == .hard { return .failure(Self.exceeded(config, window: key.window, now: now)) }
                        overdrafts.append(key)
                    case .refused:
                        if config.mode == .hard { return .failure(Self.exceeded(config, window: key.window, now: now)) }
                        overdrafts.append(key)
                    case .unreachable:
                        if config.mode == .soft {
                            overdrafts.append(key)
                            continue
                        }
                        switch config.outagePolicy {
                        case .deny:
                            return .failure(Self.unavailable(config))
                        case .safe:
                            guard (state[key]?.outageSpent ?? 0) + amount <= config.safeAllowanceMicros else {
                                return .failure(Self.unavailable(config))
                            }
                            overdrafts.append(key)
                        case .allow:
                            overdrafts.append(key)
                        }
                    }
                }
                // Every budget agreed (some by overdraft): reserve in all of them at once.
                for entry in entries where asked[entry.key] != .gone {
                    state[entry.key]?.reserved += entry.amount
                    state[entry.key]?.recent += entry.amount
                    if overdrafts.contains(entry.key), asked[entry.key] == .unreachable, entry.config.outagePolicy == .safe {
                        state[entry.key]?.outageSpent += entry.amount
                    }
                }
                return .success([:])
            }
            let short: [Key: Int64]
            switch result {
            case .success(let value): short = value
            case .failure(let error): throw error
            }
            if short.isEmpty {
                return Reservation(
                    parts: entries.filter { asked[$0.key] != .gone }.map { .init(key: $0.key, amount: $0.amount, metric: $0.config.metric) }
                )
            }
            if !wait { return nil }
            self.onWait()
            outcomes.merge(await self.caller.refill(self, short: short)) { _, new in new }
        }
        // Not reached: the last round decides.
        throw Self.exceeded(entries[0].config, window: entries[0].key.window, now: now)
    }

    /// Settles a reservation at what the request used.
    func settle(_ reservation: Reservation, actual: Actual) {
        guard !reservation.parts.isEmpty else { return }
        self.leases.withLock { state in
            for part in reservation.parts {
                guard var lease = state[part.key] else { continue }
                lease.reserved = max(0, lease.reserved - part.amount)
                lease.spent += max(0, actual.amount(for: part))
                state[part.key] = lease
            }
        }
    }

    /// Adds a request's spend to the next report.
    func recordUsage(_ row: UsageBuffer.Row, promptTokens: Int64, completionTokens: Int64, costMicros: Int64) {
        self.usage.withLock { $0.add(row, promptTokens: promptTokens, completionTokens: completionTokens, costMicros: costMicros) }
    }

    /// The lease items to send now: for the request at hand, the leases in `short` that still
    /// cannot cover its amount (what a call made meanwhile already covered is skipped); for the
    /// reporter (`short` nil), every lease with spend to report, running low, due soon, or to hand
    /// back (idle, its window over, or `releaseAll` on shutdown). Releasing a lease stops its use
    /// at once, so nothing is reserved from a lease the control plane is dropping.
    func items(
        short: [Key: Int64]?,
        releaseAll: Bool = false,
        now: Date = Date()
    ) -> [(key: Key, item: LeaseAsk, spent: Int64, granted: Int64)] {
        let instant = ContinuousClock.now
        return self.leases.withLock { state in
            var items: [(key: Key, item: LeaseAsk, spent: Int64, granted: Int64)] = []
            for (key, lease) in state {
                if short == nil {
                    // A reporter round: the rate window moves on.
                    state[key]?.previous = lease.recent
                    state[key]?.recent = 0
                }
                let free = lease.free(at: instant)
                var need: Int64 = 0
                var want: Int64 = 0
                var release = false
                if let short {
                    guard let amount = short[key] else { continue }
                    need = max(0, amount - free)
                    guard need > 0 else { continue }
                    if let until = lease.refusedUntil, instant < until { continue }
                    want = need + lease.headroom(units: self.settings.headroomUnits)
                } else {
                    let idle = instant - lease.lastUsed > self.settings.idleRelease
                    // Window ids sort in time; a lease for the next window (fetched ahead) is not over.
                    let windowOver = key.window < lease.config.window(at: now).id
                    let dueSoon = lease.expires.map { $0 - instant < .seconds(5) } ?? false
                    if releaseAll || idle || windowOver, lease.reserved == 0 {
                        release = true
                        // No more reservations from it while the control plane drops it.
                        state[key]?.granted = lease.spent
                        state[key]?.expires = nil
                    } else if !idle, free < lease.headroom(units: 2), lease.refusedUntil.map({ instant >= $0 }) ?? true {
                        want = lease.headroom(units: self.settings.headroomUnits)
                    } else if lease.spent == lease.reportedSpent, !dueSoon || idle {
                        continue
                    }
                }
                items.append(
                    (
                        key,
                        LeaseAsk(
                            tenant: key.tenant,
                            budget: key.budget,
                            window: key.window,
                            spentMicros: lease.spent,
                            needMicros: need,
                            wantMicros: want,
                            unitMicros: lease.unit,
                            release: release
                        ),
                        lease.spent,
                        lease.granted
                    )
                )
            }
            if short == nil { items += Self.prefetch(&state, now: now, instant: instant, units: self.settings.headroomUnits) }
            return items
        }
    }

    /// Minute windows end every minute: in a window's last seconds, a lease in use gets its
    /// successor for the next window, so requests at the turn of the minute find room in memory
    /// instead of all waiting for the control plane at once.
    static func prefetch(
        _ state: inout [Key: Lease],
        now: Date,
        instant: ContinuousClock.Instant,
        units: Int64
    ) -> [(key: Key, item: LeaseAsk, spent: Int64, granted: Int64)] {
        var items: [(key: Key, item: LeaseAsk, spent: Int64, granted: Int64)] = []
        for (key, lease) in state where lease.config.period == .minute && max(lease.recent, lease.previous) > 0 {
            guard let end = lease.config.window(at: now).end, end.timeIntervalSince(now) < Self.prefetchLead,
                key.window == lease.config.window(at: now).id
            else { continue }
            let next = Key(tenant: key.tenant, budget: key.budget, window: lease.config.window(at: end).id)
            guard state[next] == nil else { continue }
            var successor = Lease(config: lease.config, lastUsed: instant)
            successor.unit = lease.unit
            successor.previous = max(lease.recent, lease.previous)
            state[next] = successor
            let want = successor.headroom(units: units)
            items.append(
                (
                    next,
                    LeaseAsk(
                        tenant: next.tenant,
                        budget: next.budget,
                        window: next.window,
                        spentMicros: 0,
                        needMicros: 0,
                        wantMicros: want,
                        unitMicros: successor.unit,
                        release: false
                    ),
                    0,
                    0
                )
            )
        }
        return items
    }

    /// How long before a minute window ends its successor is fetched.
    static let prefetchLead: TimeInterval = 3

    /// Keys whose lease the control plane refused to grow recently (no call is made for them).
    func recentlyRefused(_ keys: some Sequence<Key>) -> Set<Key> {
        let instant = ContinuousClock.now
        return self.leases.withLock { state in
            Set(keys.filter { key in state[key]?.refusedUntil.map { instant < $0 } ?? false })
        }
    }

    /// Remembers a refusal for `refusalMemory`: a burst of requests over a spent budget makes one
    /// call, not one each.
    func noteRefused(_ key: Key) {
        let until = ContinuousClock.now + self.settings.refusalMemory
        self.leases.withLock { state in state[key]?.refusedUntil = until }
    }

    /// Applies the control plane's answers; `receivedAt` starts each lease's time to live.
    func apply(
        _ answers: [(key: Key, sentSpent: Int64, release: Bool, granted: Int64, windowSpent: Int64, unknown: Bool)],
        ttl: Duration,
        receivedAt: ContinuousClock.Instant
    ) {
        // Spend a lease only while the control plane surely still counts it.
        let margin = min(Duration.seconds(1), ttl / 10)
        self.leases.withLock { state in
            for answer in answers {
                guard var lease = state[answer.key] else { continue }
                if answer.unknown {
                    if lease.reserved == 0 { state[answer.key] = nil }
                    continue
                }
                lease.reportedSpent = max(lease.reportedSpent, answer.sentSpent)
                lease.windowSpent = answer.windowSpent
                if answer.release {
                    // The control plane accounted the lease and dropped it: start afresh, keeping
                    // only what happened since the report (an overdraft reservation).
                    if lease.reserved == 0, lease.spent == answer.sentSpent {
                        state[answer.key] = nil
                    } else {
                        lease.spent -= answer.sentSpent
                        lease.reportedSpent = 0
                        lease.granted = 0
                        lease.expires = nil
                        state[answer.key] = lease
                    }
                    continue
                }
                lease.granted = answer.granted
                lease.expires = receivedAt + ttl - margin
                state[answer.key] = lease
            }
        }
    }

    static func exceeded(_ budget: BudgetConfig, window: String, now: Date = Date()) -> APIError {
        if budget.metric != .usd {
            let unit = budget.metric == .requests ? "requests" : "tokens"
            let seconds = max(1, Int((budget.window(at: now).end?.timeIntervalSince(now) ?? 60).rounded(.up)))
            let scope =
                switch budget.name.split(separator: ":", maxSplits: 1).dropFirst().first.map(String.init) {
                case nil: "this tenant"
                case let rest?: rest.hasPrefix("key:") ? "this key" : String(rest)
                }
            return APIError(
                status: 429,
                type: unit,
                code: "rate_limit_exceeded",
                message: "Rate limit reached for \(scope) on \(unit) per minute: limit \(budget.limitMicros). Retry in \(seconds) s.",
                retryAfterSeconds: seconds
            )
        }
        let period = budget.period == .total ? "" : " for \(window)"
        return APIError(
            status: 429,
            type: "insufficient_quota",
            code: "budget_exceeded",
            message: "The budget '\(budget.name)' is spent\(period) (limit \(Self.dollars(budget.limitMicros)))."
        )
    }

    static func unavailable(_ budget: BudgetConfig) -> APIError {
        if budget.metric != .usd {
            return APIError(
                status: 503,
                type: "server_error",
                code: "rate_limit_unavailable",
                message: "A rate limit cannot be checked: this node's share is used up and the control plane is unreachable; retry later.",
                retryAfterSeconds: 1
            )
        }
        return APIError(
            status: 503,
            type: "server_error",
            code: "budget_unavailable",
            message: "The budget '\(budget.name)' cannot be checked: this node's lease is spent and the control plane is unreachable; retry later."
        )
    }

    static func dollars(_ micros: Int64) -> String {
        let cents = (micros + 5_000) / 10_000
        let fraction = cents % 100
        return "$\(cents / 100).\(fraction < 10 ? "0" : "")\(fraction)"
    }
}

/// Spend not yet reported, summed per (UTC day, tenant, key, route, model).
struct UsageBuffer: Sendable {
    struct Row: Hashable, Sendable {
        var day: String
        var tenant: String
        var keyID: String
        var route: String
        var model: String
    }

    struct Totals: Sendable {
        var requests: Int64 = 0
        var promptTokens: Int64 = 0
        var completionTokens: Int64 = 0
        var costMicros: Int64 = 0
    }

    var rows: [Row: Totals] = [:]
    /// The batch sent but not acknowledged, resent with the same sequence number.
    var pending: (seq: UInt64, rows: [Row: Totals])?
    var nextSeq: UInt64 = 1

    mutating func add(_ row: Row, promptTokens: Int64, completionTokens: Int64, costMicros: Int64) {
        var totals = self.rows[row] ?? Totals()
        totals.requests += 1
        totals.promptTokens += promptTokens
        totals.completionTokens += completionTokens
        totals.costMicros += costMicros
        self.rows[row] = totals
    }

    /// The batch to send: the unacknowledged one, else everything new.
    mutating func batch() -> (seq: UInt64, rows: [Row: Totals])? {
        if let pending = self.pending { return pending }
        guard !self.rows.isEmpty else { return nil }
        let batch = (seq: self.nextSeq, rows: self.rows)
        self.nextSeq += 1
        self.rows = [:]
        self.pending = batch
        return batch
    }

    mutating func acknowledge(_ seq: UInt64) {
        if self.pending?.seq == seq { self.pending = nil }
    }
}
