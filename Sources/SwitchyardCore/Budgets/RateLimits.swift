/// Requests and tokens per minute: a rate limit of a tenant or key, or the capacity of one
/// provider credential. Counted in UTC minutes across the whole fleet through the same leases as
/// budgets (docs/budgets.md), so N nodes together admit at most the limit in any calendar minute.
///
/// Tokens are prompt plus completion tokens; a request reserves its worst case (prompt tokens
/// counted, output at its `max_tokens` or the default) and is settled at what the provider reports.
public struct RateLimits: Sendable, Hashable {
    /// Requests per minute; nil = unlimited.
    public var rpm: Int64?
    /// Tokens per minute; nil = unlimited.
    public var tpm: Int64?

    public static let maximum: Int64 = 1_000_000_000

    public init(rpm: Int64? = nil, tpm: Int64? = nil) {
        self.rpm = rpm
        self.tpm = tpm
    }

    public var isEmpty: Bool { self.rpm == nil && self.tpm == nil }

    /// Parses `{"rpm": 600, "tpm": 200000}` (either may be omitted or null).
    public init(json: JSONValue, field: String) throws(FieldError) {
        guard case .object(let fields) = json else { throw .invalid(field, "must be an object like {\"rpm\": 600, \"tpm\": 200000}") }
        for name in fields.keys where name != "rpm" && name != "tpm" {
            throw .invalid("\(field).\(name)", "is not a known field (rpm, tpm)")
        }
        func limit(_ name: String) throws(FieldError) -> Int64? {
            guard let value = fields[name], value != .null else { return nil }
            guard let number = value.intValue, (1...Self.maximum).contains(number) else {
                throw .invalid("\(field).\(name)", "must be a whole number from 1 to \(Self.maximum), or null for no limit")
            }
            return number
        }
        self.init(rpm: try limit("rpm"), tpm: try limit("tpm"))
    }

    public var json: JSONValue {
        ["rpm": self.rpm.map(JSONValue.int) ?? .null, "tpm": self.tpm.map(JSONValue.int) ?? .null]
    }

    /// The lease names of a scope's limits: `~rpm` and `~tpm` for a tenant, `~rpm:key:<id>` for a
    /// key, `~rpm:credential:<provider>/<name>` for a credential. Budget names never start with `~`.
    public static func leaseName(_ metric: BudgetConfig.Metric, scope: String) -> String {
        let prefix = metric == .requests ? "~rpm" : "~tpm"
        return scope.isEmpty ? prefix : "\(prefix):\(scope)"
    }

    /// The lease configurations of these limits: hard, per UTC minute; when a node's lease runs
    /// out and the control plane cannot be reached, the node alone admits up to the whole limit.
    public func quotas(scope: String) -> [BudgetConfig] {
        var quotas: [BudgetConfig] = []
        for (metric, limit) in [(BudgetConfig.Metric.requests, self.rpm), (.tokens, self.tpm)] {
            guard let limit else { continue }
            var quota = BudgetConfig(
                name: Self.leaseName(metric, scope: scope),
                period: .minute,
                limitMicros: limit,
                mode: .hard,
                outagePolicy: .safe,
                safeAllowanceMicros: limit
            )
            quota.metric = metric
            quotas.append(quota)
        }
        return quotas
    }
}
