import Foundation
import Hummingbird
import SwitchyardCore

/// A route's canary under `/admin/v1/tenants/{tenant}/routes/{alias}/canary`: start one (`PUT`),
/// read where it stands (`GET`), and move it by hand (`POST …/pause|resume|promote|abort`).
extension AdminAPI {
    static let canaryEndpoints: [(method: String, path: String)] =
        [
            ("GET", "/admin/v1/tenants/{tenant}/routes/{alias}/canary"), ("PUT", "/admin/v1/tenants/{tenant}/routes/{alias}/canary"),
        ] + CanaryAction.allCases.map { ("POST", "/admin/v1/tenants/{tenant}/routes/{alias}/canary/\($0.rawValue)") }

    func registerCanaries(on admin: RouterGroup<some RequestContext>) {
        admin.get("tenants/:tenant/routes/:alias/canary") { _, context in
            let tenant = try await self.requireTenant(context, .read)
            let alias = try Self.param(context, "alias")
            guard let canary = try await self.store.canary(tenant: tenant.name, alias: alias) else {
                throw AdminError.notFound("route '\(alias)' has no canary in tenant '\(tenant.name)'")
            }
            // Where each guardrail's evidence stands, over every step so far, and the step's progress
            // (its duration so far counts from `step_started_at`).
            var body = Self.render(canary)
            let counts = try await self.store.canaryCounts(canary)
            let seconds = Date().timeIntervalSince(canary.stepStartedAt)
            let (_, evidence) = CanaryJudgement.judge(canary.spec, step: canary.step, counts: counts, stepSeconds: seconds)
            body["evidence"] = .array(evidence.map(\.json))
            let current = counts.indices.contains(canary.step) ? counts[canary.step].first ?? GuardrailCounts() : GuardrailCounts()
            body["progress"] = .array(
                counts.enumerated().map { index, step in
                    let first = step.first ?? GuardrailCounts()
                    return [
                        "step": .int(Int64(index)), "percent": .double(canary.spec.steps[index].percent),
                        "baseline_requests": .int(first.baselineRequests), "candidate_requests": .int(first.candidateRequests),
                    ]
                }
            )
            if canary.state.isActive, canary.spec.steps.indices.contains(canary.step) {
                let step = canary.spec.steps[canary.step]
                body["current_step"] = [
                    "min_duration_s": .int(Int64(step.minDurationSeconds)),
                    "candidate_requests": .int(current.candidateRequests), "min_requests": .int(Int64(step.minRequests)),
                ]
            }
            return body
        }
        admin.put("tenants/:tenant/routes/:alias/canary") { request, context in
            let tenant = try await self.requireTenant(context, .write)
            let alias = try Self.param(context, "alias")
            let spec = try CanarySpec(json: try await Self.body(request, context))
            let (canary, version) = try await self.mapped {
                try await self.store.startCanary(tenant: tenant.name, alias: alias, spec: spec, actor: self.actor)
            }
            return Response.json(Self.render(canary), status: .created, headers: Self.versionHeader(version))
        }
        for action in CanaryAction.allCases {
            admin.post("tenants/:tenant/routes/:alias/canary/\(action.rawValue)") { request, context in
                let tenant = try await self.requireTenant(context, .write)
                let alias = try Self.param(context, "alias")
                let body = try await Self.body(request, context, emptyIsObject: true)
                let reader = try FieldReader(body, allowed: ["reason"])
                let reason = try reader.string("reason") ?? ""
                guard reason.utf8.count <= 1_000 else { throw AdminError.invalid("reason", "must be at most 1000 bytes") }
                let (canary, version) = try await self.mapped {
                    try await self.store.actOnCanary(tenant: tenant.name, alias: alias, action: action, actor: self.actor, reason: reason)
                }
                return Response.json(Self.render(canary), headers: try await self.versionHeader(version))
            }
        }
    }

    static func render(_ canary: CanaryRecord) -> JSONValue {
        var object = canary.spec.json.objectValue ?? [:]
        object["id"] = .int(canary.id)
        object["route"] = .string(canary.alias)
        object["state"] = .string(canary.state.rawValue)
        object["step"] = .int(Int64(canary.step))
        object["percent"] = .double(canary.percent)
        object["step_started_at"] = timestamp(canary.stepStartedAt)
        object["created_by"] = .string(canary.createdBy)
        object["created_at"] = timestamp(canary.createdAt)
        object["ended_at"] = optional(canary.endedAt, timestamp)
        object["decisions"] = .array(
            canary.decisions.map { decision in
                [
                    "step": .int(Int64(decision.step)), "outcome": .string(decision.outcome), "actor": .string(decision.actor),
                    "reason": .string(decision.reason), "evidence": decision.evidence, "at": timestamp(decision.createdAt),
                ]
            }
        )
        return .object(object)
    }
}
