public import Foundation
import PostgresNIO
public import SwitchyardCore

/// A budget with where its current window stands.
public struct BudgetStatus: Sendable, Hashable {
    public var budget: BudgetConfig
    public var window: String
    public var spentMicros: Int64
    /// What live leases still hold (granted to nodes, not yet spent).
    public var leasedMicros: Int64
    public var leases: Int
}

/// What the control plane answers to one lease item.
public struct LeaseAnswer: Sendable, Hashable {
    public var grantedMicros: Int64
    public var windowSpentMicros: Int64
    public var limitMicros: Int64
    public var unknown: Bool
}

/// Spend of one (day, tenant, key, route, model), as a delta or a total.
public struct UsageRecord: Sendable, Hashable {
    public var day: String
    public var tenant: String
    public var keyID: String
    public var route: String
    public var model: String
    public var requests: Int64
    public var promptTokens: Int64
    public var completionTokens: Int64
    public var costMicros: Int64

    public init(
        day: String,
        tenant: String,
        keyID: String,
        route: String,
        model: String,
        requests: Int64,
        promptTokens: Int64,
        completionTokens: Int64,
        costMicros: Int64
    ) {
        self.day = day
        self.tenant = tenant
        self.keyID = keyID
        self.route = route
        self.model = model
        self.requests = requests
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.costMicros = costMicros
    }
}

extension ConfigStore {
    static let budgetColumns =
        "tenant, name, scope_kind, scope_value, period, time_zone, limit_micros, mode, outage_policy, safe_allowance_micros, alert_thresholds::text"

    /// Rows of `budgetColumns`, with their tenant.
    static func decodeBudgets(_ rows: PostgresRowSequence) async throws -> [(tenant: String, budget: BudgetConfig)] {
        var result: [(tenant: String, budget: BudgetConfig)] = []
        for try await (tenant, name, kind, value, period, zone, limit, mode, policy, allowance, thresholds) in rows.decode(
            (String, String, String, String, String, String, Int64, String, String, Int64, String).self
        ) {
            var budget = BudgetConfig(
                name: name,
                scope: BudgetConfig.Scope(kind: kind, value: value) ?? .tenant,
                period: BudgetConfig.Period(rawValue: period) ?? .month,
                timeZone: zone,
                limitMicros: limit,
                mode: BudgetConfig.Mode(rawValue: mode) ?? .hard,
                outagePolicy: BudgetConfig.OutagePolicy(rawValue: policy) ?? .deny,
                safeAllowanceMicros: allowance
            )
            budget.alertThresholds = ((try? JSONValue(parsing: thresholds.utf8))?.arrayValue ?? []).compactMap { $0.intValue.map(Int.init) }
            result.append((tenant, budget))
        }
        return result
    }

    public func budgets(tenant: String) async throws -> [BudgetConfig] {
        let rows = try await self.boundedQuery(
            PostgresQuery(
                unsafeSQL: "SELECT \(Self.budgetColumns) FROM budgets WHERE tenant = $1 ORDER BY name",
                binds: {
                    var binds = PostgresBindings()
                    binds.append(tenant)
                    return binds
                }()
            ),
            logger: self.logger
        )
        return try await Self.decodeBudgets(rows).map(\.budget)
    }

    /// Each budget with its current window's spend and live leases.
    public func budgetStatus(tenant: String, now: Date = Date()) async throws -> [BudgetStatus] {
        var result: [BudgetStatus] = []
        for budget in try await self.budgets(tenant: tenant) {
            let window = budget.window(at: now).id
            let rows = try await self.boundedQuery(
                """
                SELECT COALESCE((SELECT spent_micros FROM budget_windows WHERE tenant = \(tenant) AND budget = \(budget.name)
                                 AND window_id = \(window)), 0),
                       COALESCE((SELECT SUM(GREATEST(granted_micros - spent_micros, 0))::bigint FROM budget_leases
                                 WHERE tenant = \(tenant) AND budget = \(budget.name) AND window_id = \(window)
                                   AND expires_at > now() - \(Self.leaseGraceSeconds) * interval '1 second'), 0),
                       (SELECT count(*) FROM budget_leases WHERE tenant = \(tenant) AND budget = \(budget.name) AND window_id = \(window)
                          AND expires_at > now() - \(Self.leaseGraceSeconds) * interval '1 second')
                """,
                logger: self.logger
            )
            for try await (spent, leased, count) in rows.decode((Int64, Int64, Int).self) {
                result.append(BudgetStatus(budget: budget, window: window, spentMicros: spent, leasedMicros: leased, leases: count))
            }
        }
        return result
    }

    /// Creates or replaces a budget. Unchanged input writes nothing.
    public func putBudget(tenant: String, _ budget: BudgetConfig, actor: String) async throws -> (created: Bool, version: Int?) {
        let existing = try await self.budgets(tenant: tenant).first { $0.name == budget.name }
        if existing == budget { return (false, nil) }
        let logger = self.logger
        let thresholdsText = String(decoding: JSONValue.array(budget.alertThresholds.map { .int(Int64($0)) }).serialized(), as: UTF8.self)
        let (created, version) = try await self.write(
            .init(
                actor: actor,
                action: existing == nil ? "create" : "update",
                objectType: "budget",
                objectID: "\(tenant)/\(budget.name)",
                tenant: tenant,
                detail: budget.json.objectValue ?? [:]
            )
        ) { connection, _ in
            let found = try await connection.query("SELECT 1 FROM tenants WHERE name = \(tenant)", logger: logger)
            try await Self.requireRow(found, else: StoreError.notFound("tenant '\(tenant)' does not exist"))
            let rows = try await connection.query(
                """
                INSERT INTO budgets (tenant, name, scope_kind, scope_value, period, time_zone, limit_micros, mode, outage_policy,
                                     safe_allowance_micros, alert_thresholds)
                VALUES (\(tenant), \(budget.name), \(budget.scope.kind), \(budget.scope.value), \(budget.period.rawValue),
                        \(budget.timeZone), \(budget.limitMicros), \(budget.mode.rawValue), \(budget.outagePolicy.rawValue),
                        \(budget.safeAllowanceMicros), \(thresholdsText)::jsonb)
                ON CONFLICT (tenant, name) DO UPDATE SET scope_kind = EXCLUDED.scope_kind, scope_value = EXCLUDED.scope_value,
                    period = EXCLUDED.period, time_zone = EXCLUDED.time_zone, limit_micros = EXCLUDED.limit_micros,
                    mode = EXCLUDED.mode, outage_policy = EXCLUDED.outage_policy, safe_allowance_micros = EXCLUDED.safe_allowance_micros,
                    alert_thresholds = EXCLUDED.alert_thresholds
                RETURNING (xmax = 0)
                """,
                logger: logger
            )
            var created = false
            for try await inserted in rows.decode(Bool.self) { created = inserted }
            return created
        }
        return (created, version)
    }

    public func deleteBudget(tenant: String, name: String, actor: String) async throws -> Int {
        let logger = self.logger
        return try await self.write(
            .init(actor: actor, action: "delete", objectType: "budget", objectID: "\(tenant)/\(name)", tenant: tenant)
        ) { connection, _ in
            let rows = try await connection.query(
                "DELETE FROM budgets WHERE tenant = \(tenant) AND name = \(name) RETURNING name",
                logger: logger
            )
            try await Self.requireRow(rows, else: StoreError.notFound("budget '\(name)' does not exist in tenant '\(tenant)'"))
            // Its windows and leases go with it: a budget created later under the name starts clean.
            try await connection.query("DELETE FROM budget_windows WHERE tenant = \(tenant) AND budget = \(name)", logger: logger)
        }.1
    }

    /// The `data` of a budget webhook event.
    static func alertData(_ budget: BudgetConfig, window: String, spent: Int64, extra: [String: JSONValue]) -> JSONValue {
        var data: [String: JSONValue] = [
            "budget": .string(budget.name),
            "scope": ["kind": .string(budget.scope.kind), "value": budget.scope.value.isEmpty ? .null : .string(budget.scope.value)],
            "period": .string(budget.period.rawValue), "time_zone": .string(budget.timeZone), "window": .string(window),
            "mode": .string(budget.mode.rawValue), "limit_usd": .double(BudgetConfig.usd(budget.limitMicros)),
            "spent_usd": .double(BudgetConfig.usd(spent)),
        ]
        data.merge(extra) { _, new in new }
        return .object(data)
    }

    /// The query for the limit behind a rate-limit lease name (``RateLimits/leaseName(_:scope:)``):
    /// `~rpm`/`~tpm` of a tenant, `…:key:<id>` of one of its active keys, `…:credential:<provider>/<name>`
    /// of a provider credential (tenant ""). Nil for a name of no known form.
    static func rateLimitQuery(tenant: String, name: String) -> PostgresQuery? {
        let parts = name.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
        guard let metric = parts.first.map({ String($0.dropFirst()) }), metric == "rpm" || metric == "tpm" else { return nil }
        switch parts.count {
        case 1:
            return "SELECT (rate_limits ->> \(metric))::bigint FROM tenants WHERE name = \(tenant)"
        case 3 where parts[1] == "key":
            return """
                SELECT (rate_limits ->> \(metric))::bigint FROM api_keys
                WHERE id = \(parts[2]) AND tenant = \(tenant) AND revoked_at IS NULL
                """
        case 3 where parts[1] == "credential" && tenant.isEmpty:
            let names = parts[2].split(separator: "/", maxSplits: 1).map(String.init)
            guard names.count == 2 else { return nil }
            return """
                SELECT (c -> 'capacity' ->> \(metric))::bigint FROM providers, jsonb_array_elements(credential_names) c
                WHERE name = \(names[0]) AND c ->> 'name' = \(names[1])
                """
        default:
            return nil
        }
    }

    /// How long a lease's unspent part stays reserved after it expires: covers a request a node
    /// admitted just before the expiry (the longest a route allows) and its report.
    public static let leaseGraceSeconds = 1_860

    /// Accounts a node's lease reports and grants what fits, one budget window at a time under
    /// that window's row lock: spent + every live lease's unspent part never exceeds the limit.
    public func lease(holder: String, items: [LeaseAsk], ttl: Duration) async throws -> [LeaseAnswer] {
        let logger = self.logger
        let client = self.client
        let ttlSeconds = Double(ttl.components.seconds) + Double(ttl.components.attoseconds) / 1e18
        return try await self.bounded {
            var answers: [LeaseAnswer] = []
            for item in items {
                let answer = try await client.withTransaction(logger: logger) { connection -> LeaseAnswer in
                    var limit: Int64?
                    var budget: BudgetConfig?
                    if item.budget.hasPrefix("~") {
                        if let query = Self.rateLimitQuery(tenant: item.tenant, name: item.budget) {
                            for try await value in try await connection.query(query, logger: logger).decode(Int64?.self) { limit = value }
                        }
                    } else {
                        var query = PostgresQuery(unsafeSQL: "SELECT \(Self.budgetColumns) FROM budgets WHERE tenant = $1 AND name = $2")
                        query.binds.append(item.tenant, context: .default)
                        query.binds.append(item.budget, context: .default)
                        budget = try await Self.decodeBudgets(try await connection.query(query, logger: logger)).first?.budget
                        limit = budget?.limitMicros
                    }
                    guard let limit else { return LeaseAnswer(grantedMicros: 0, windowSpentMicros: 0, limitMicros: 0, unknown: true) }
                    let created = try await connection.query(
                        """
                        INSERT INTO budget_windows (tenant, budget, window_id) VALUES (\(item.tenant), \(item.budget), \(item.window))
                        ON CONFLICT DO NOTHING RETURNING 1
                        """,
                        logger: logger
                    )
                    var isNew = false
                    for try await _ in created { isNew = true }
                    if isNew, item.budget.hasPrefix("~") {
                        // Minute windows pile up: a new one drops those over ten minutes old.
                        let cutoff = UTCDay.minute(at: Date().addingTimeInterval(-600)).id
                        try await connection.query(
                            """
                            DELETE FROM budget_windows WHERE tenant = \(item.tenant) AND budget = \(item.budget) AND window_id < \(cutoff)
                            """,
                            logger: logger
                        )
                    }
                    var spent: Int64 = 0
                    var alerted = 0
                    var exhaustedAlerted = false
                    for try await (value, percent, exhausted) in try await connection.query(
                        """
                        SELECT spent_micros, alerted_percent, exhausted_alerted FROM budget_windows
                        WHERE tenant = \(item.tenant) AND budget = \(item.budget) AND window_id = \(item.window) FOR UPDATE
                        """,
                        logger: logger
                    ).decode((Int64, Int, Bool).self) {
                        (spent, alerted, exhaustedAlerted) = (value, percent, exhausted)
                    }
                    var ownGranted: Int64 = 0
                    var ownSpent: Int64 = 0
                    for try await (granted, used) in try await connection.query(
                        """
                        SELECT granted_micros, spent_micros FROM budget_leases
                        WHERE tenant = \(item.tenant) AND budget = \(item.budget) AND window_id = \(item.window) AND holder = \(holder)
                        """,
                        logger: logger
                    ).decode((Int64, Int64).self) {
                        ownGranted = granted
                        ownSpent = used
                    }
                    // Reports are cumulative: a resent one adds nothing.
                    let reported = max(ownSpent, item.spentMicros)
                    spent += reported - ownSpent
                    // Leases past expiry and grace count for nothing any more (their spend is in
                    // the window): drop them, so crashed and restarted nodes leave no rows behind.
                    try await connection.query(
                        """
                        DELETE FROM budget_leases
                        WHERE tenant = \(item.tenant) AND budget = \(item.budget) AND window_id = \(item.window) AND holder <> \(holder)
                          AND expires_at <= now() - \(Self.leaseGraceSeconds) * interval '1 second'
                        """,
                        logger: logger
                    )
                    var others: Int64 = 0
                    for try await value in try await connection.query(
                        """
                        SELECT COALESCE(SUM(GREATEST(granted_micros - spent_micros, 0)), 0)::bigint FROM budget_leases
                        WHERE tenant = \(item.tenant) AND budget = \(item.budget) AND window_id = \(item.window) AND holder <> \(holder)
                          AND expires_at > now() - \(Self.leaseGraceSeconds) * interval '1 second'
                        """,
                        logger: logger
                    ).decode(Int64.self) {
                        others = value
                    }
                    // Alerts go out in the transaction that records the spend: exactly once per window.
                    let crossed = budget?.crossedThresholds(spent: spent, alerted: alerted) ?? []
                    if let budget {
                        for threshold in crossed {
                            try await self.enqueueWebhookEvent(
                                on: connection,
                                tenant: item.tenant,
                                type: "budget.threshold",
                                data: Self.alertData(budget, window: item.window, spent: spent, extra: ["threshold_percent": .int(Int64(threshold))]),
                                logger: logger
                            )
                        }
                    }
                    try await connection.query(
                        """
                        UPDATE budget_windows SET spent_micros = \(spent), alerted_percent = \(crossed.last ?? alerted)
                        WHERE tenant = \(item.tenant) AND budget = \(item.budget) AND window_id = \(item.window)
                        """,
                        logger: logger
                    )
                    if item.release {
                        try await connection.query(
                            """
                            DELETE FROM budget_leases
                            WHERE tenant = \(item.tenant) AND budget = \(item.budget) AND window_id = \(item.window) AND holder = \(holder)
                            """,
                            logger: logger
                        )
                        return LeaseAnswer(grantedMicros: 0, windowSpentMicros: spent, limitMicros: limit, unknown: false)
                    }
                    let ownOutstanding = max(0, ownGranted - reported)
                    let available = limit - spent - others - ownOutstanding
                    let grant = LeaseMath.grant(available: available, need: item.needMicros, want: item.wantMicros, unit: item.unitMicros)
                    if let budget, budget.mode == .hard, item.needMicros > 0, grant == 0, !exhaustedAlerted {
                        // The first request this window refused for want of room.
                        try await self.enqueueWebhookEvent(
                            on: connection,
                            tenant: item.tenant,
                            type: "budget.exhausted",
                            data: Self.alertData(
                                budget,
                                window: item.window,
                                spent: spent,
                                extra: [
                                    "refused_request_usd": .double(BudgetConfig.usd(item.needMicros)),
                                    "remaining_usd": .double(BudgetConfig.usd(max(0, limit - spent))),
                                ]
                            ),
                            logger: logger
                        )
                        try await connection.query(
                            """
                            UPDATE budget_windows SET exhausted_alerted = true
                            WHERE tenant = \(item.tenant) AND budget = \(item.budget) AND window_id = \(item.window)
                            """,
                            logger: logger
                        )
                    }
                    let granted = ownGranted + grant
                    try await connection.query(
                        """
                        INSERT INTO budget_leases (tenant, budget, window_id, holder, granted_micros, spent_micros, expires_at)
                        VALUES (\(item.tenant), \(item.budget), \(item.window), \(holder), \(granted), \(reported),
                                now() + \(ttlSeconds) * interval '1 second')
                        ON CONFLICT (tenant, budget, window_id, holder) DO UPDATE SET granted_micros = EXCLUDED.granted_micros,
                            spent_micros = EXCLUDED.spent_micros, expires_at = EXCLUDED.expires_at
                        """,
                        logger: logger
                    )
                    return LeaseAnswer(grantedMicros: granted, windowSpentMicros: spent, limitMicros: limit, unknown: false)
                }
                answers.append(answer)
            }
            return answers
        }
    }

    /// Adds a node's spend deltas, once per (holder, seq).
    public func recordUsage(holder: String, seq: Int64, rows: [UsageRecord]) async throws {
        guard !rows.isEmpty else { return }
        let logger = self.logger
        let client = self.client
        try await self.bounded {
            try await client.withTransaction(logger: logger) { connection in
                let applied = try await connection.query(
                    """
                    INSERT INTO usage_reports (holder, seq) VALUES (\(holder), \(seq))
                    ON CONFLICT (holder) DO UPDATE SET seq = EXCLUDED.seq, updated_at = now() WHERE usage_reports.seq < EXCLUDED.seq
                    RETURNING seq
                    """,
                    logger: logger
                )
                var fresh = false
                for try await _ in applied { fresh = true }
                guard fresh else { return }
                for row in rows {
                    try await connection.query(
                        """
                        INSERT INTO spend_daily (day, tenant, key_id, route, model, requests, prompt_tokens, completion_tokens, cost_micros)
                        VALUES (\(row.day)::date, \(row.tenant), \(row.keyID), \(row.route), \(row.model), \(row.requests),
                                \(row.promptTokens), \(row.completionTokens), \(row.costMicros))
                        ON CONFLICT (day, tenant, key_id, route, model) DO UPDATE SET
                            requests = spend_daily.requests + EXCLUDED.requests,
                            prompt_tokens = spend_daily.prompt_tokens + EXCLUDED.prompt_tokens,
                            completion_tokens = spend_daily.completion_tokens + EXCLUDED.completion_tokens,
                            cost_micros = spend_daily.cost_micros + EXCLUDED.cost_micros
                        """,
                        logger: logger
                    )
                }
            }
        }
    }

    /// Spend of a tenant between two UTC days (inclusive), summed by the chosen dimensions.
    public func spend(tenant: String, from: String, to: String, groupBy: [String]) async throws -> [UsageRecord] {
        let allowed = ["day", "key_id", "route", "model"]
        let columns = allowed.filter { groupBy.contains($0) }
        let select = allowed.map { column in
            columns.contains(column) ? (column == "day" ? "to_char(day, 'YYYY-MM-DD')" : column) : "''"
        }.joined(separator: ", ")
        let group = columns.isEmpty ? "" : "GROUP BY " + columns.joined(separator: ", ")
        let order = columns.isEmpty ? "" : "ORDER BY " + columns.joined(separator: ", ")
        var binds = PostgresBindings()
        binds.append(tenant)
        binds.append(from)
        binds.append(to)
        let rows = try await self.boundedQuery(
            PostgresQuery(
                unsafeSQL: """
                    SELECT \(select), COALESCE(SUM(requests), 0)::bigint, COALESCE(SUM(prompt_tokens), 0)::bigint,
                           COALESCE(SUM(completion_tokens), 0)::bigint, COALESCE(SUM(cost_micros), 0)::bigint
                    FROM spend_daily WHERE tenant = $1 AND day BETWEEN $2::date AND $3::date \(group) \(order)
                    """,
                binds: binds
            ),
            logger: self.logger
        )
        var result: [UsageRecord] = []
        for try await (day, key, route, model, requests, prompt, completion, cost) in rows.decode(
            (String, String, String, String, Int64, Int64, Int64, Int64).self
        ) {
            result.append(
                UsageRecord(
                    day: day,
                    tenant: tenant,
                    keyID: key,
                    route: route,
                    model: model,
                    requests: requests,
                    promptTokens: prompt,
                    completionTokens: completion,
                    costMicros: cost
                )
            )
        }
        return result
    }
}
