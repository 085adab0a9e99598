import Foundation
import Hummingbird
import SwitchyardCore

/// Budgets and spend under `/admin/v1/tenants/{tenant}`: `budgets` (what may be spent, with the
/// current window's standing) and `spend` (what was spent, from node reports).
extension AdminAPI {
    static let budgetEndpoints: [(method: String, path: String)] = [
        ("GET", "/admin/v1/tenants/{tenant}/budgets"),
        ("GET", "/admin/v1/tenants/{tenant}/budgets/{budget}"), ("PUT", "/admin/v1/tenants/{tenant}/budgets/{budget}"),
        ("DELETE", "/admin/v1/tenants/{tenant}/budgets/{budget}"),
        ("GET", "/admin/v1/tenants/{tenant}/spend"),
    ]

    func registerBudgets(on admin: RouterGroup<some RequestContext>) {
        admin.get("tenants/:tenant/budgets") { _, context in
            let tenant = try await self.requireTenant(context, .read)
            return Self.list(try await self.store.budgetStatus(tenant: tenant.name).map(Self.render))
        }
        admin.get("tenants/:tenant/budgets/:budget") { _, context in
            let tenant = try await self.requireTenant(context, .read)
            let name = try Self.param(context, "budget")
            guard let status = try await self.store.budgetStatus(tenant: tenant.name).first(where: { $0.budget.name == name }) else {
                throw AdminError.notFound("budget '\(name)' does not exist in tenant '\(tenant.name)'")
            }
            return Self.render(status)
        }
        admin.put("tenants/:tenant/budgets/:budget") { request, context in
            let tenant = try await self.requireTenant(context, .write)
            let name = try Self.param(context, "budget")
            let budget = try BudgetConfig(json: try await Self.body(request, context), name: name)
            let existing = try await self.store.budgets(tenant: tenant.name)
            if !existing.contains(where: { $0.name == name }), existing.count >= BudgetConfig.maxPerTenant {
                throw AdminError.conflict("tenant '\(tenant.name)' already has \(existing.count) budgets, the limit is \(BudgetConfig.maxPerTenant)")
            }
            let (created, version) = try await self.mapped { try await self.store.putBudget(tenant: tenant.name, budget, actor: self.actor) }
            guard let status = try await self.store.budgetStatus(tenant: tenant.name).first(where: { $0.budget.name == name }) else {
                throw AdminError.notFound("budget '\(name)' does not exist in tenant '\(tenant.name)'")
            }
            return Response.json(Self.render(status), status: created ? .created : .ok, headers: try await self.versionHeader(version))
        }
        admin.delete("tenants/:tenant/budgets/:budget") { _, context in
            let tenant = try await self.requireTenant(context, .write)
            let name = try Self.param(context, "budget")
            let version = try await self.mapped { try await self.store.deleteBudget(tenant: tenant.name, name: name, actor: self.actor) }
            return Response(status: .noContent, headers: Self.versionHeader(version))
        }
        admin.get("tenants/:tenant/spend") { request, context in
            let tenant = try await self.requireTenant(context, .read)
            let query = request.uri.queryParameters
            try Self.rejectUnknownParameters(query.map { String($0.key) }, known: ["from", "to", "group_by"])
            let today = UTCDay.string(unixSeconds: Int64(Date().timeIntervalSince1970))
            let from = try Self.dayParameter(query.get("from").map { String($0) }, name: "from") ?? String(today.prefix(8)) + "01"
            let to = try Self.dayParameter(query.get("to").map { String($0) }, name: "to") ?? today
            guard from <= to else { throw AdminError.invalid("from", "must not be after 'to'") }
            let groups = (query.get("group_by").map { String($0) } ?? "day").split(separator: ",").map(String.init).filter { !$0.isEmpty }
            let allowed = ["day", "key", "route", "model"]
            for group in groups where !allowed.contains(group) {
                throw AdminError.invalid("group_by", "must be a comma-separated list of \(allowed.joined(separator: ", "))")
            }
            let columns = groups.map { $0 == "key" ? "key_id" : $0 }
            let rows = try await self.store.spend(tenant: tenant.name, from: from, to: to, groupBy: columns)
            return JSONValue.object([
                "from": .string(from), "to": .string(to), "group_by": .array(groups.map(JSONValue.string)),
                "data": .array(
                    rows.map { row in
                        var fields: [String: JSONValue] = [
                            "requests": .int(row.requests), "prompt_tokens": .int(row.promptTokens),
                            "completion_tokens": .int(row.completionTokens), "cost_usd": .double(BudgetConfig.usd(row.costMicros)),
                            "cost_micros": .int(row.costMicros),
                        ]
                        if columns.contains("day") { fields["day"] = .string(row.day) }
                        if columns.contains("key_id") { fields["key_id"] = .string(row.keyID) }
                        if columns.contains("route") { fields["route"] = .string(row.route) }
                        if columns.contains("model") { fields["model"] = .string(row.model) }
                        return .object(fields)
                    }
                ),
            ])
        }
    }

    static func dayParameter(_ text: String?, name: String) throws -> String? {
        guard let text else { return nil }
        let parts = text.split(separator: "-")
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
            let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]), (1970...9999).contains(year),
            (1...12).contains(month), (1...31).contains(day)
        else { throw AdminError.invalid(name, "must be a UTC day, YYYY-MM-DD") }
        // A day that exists (not 2026-02-31).
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        guard let date = calendar.date(from: DateComponents(year: year, month: month, day: day)),
            calendar.component(.day, from: date) == day
        else { throw AdminError.invalid(name, "must be a day that exists, YYYY-MM-DD") }
        return text
    }

    static func render(_ status: BudgetStatus) -> JSONValue {
        var object = status.budget.json.objectValue ?? [:]
        let remaining = status.budget.limitMicros - status.spentMicros - status.leasedMicros
        object["current"] = [
            "window": .string(status.window), "spent_usd": .double(BudgetConfig.usd(status.spentMicros)),
            "leased_usd": .double(BudgetConfig.usd(status.leasedMicros)), "remaining_usd": .double(BudgetConfig.usd(max(0, remaining))),
            "spent_micros": .int(status.spentMicros), "leased_micros": .int(status.leasedMicros), "leases": .int(Int64(status.leases)),
        ]
        return .object(object)
    }
}
