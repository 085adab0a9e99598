import Foundation
import Hummingbird
import SwitchyardCore

/// `POST /admin/v1/tenants/{tenant}/routes/{alias}/simulate`: the routing decision for a
/// described request — rule, variant, attempt plan and the reason for each step — computed with
/// the same code the nodes run, without calling a provider.
extension AdminAPI {
    func simulate(_ route: RouteRecord, input: JSONValue) async throws -> Response {
        let reader = try FieldReader(input, allowed: ["headers", "body", "key_id", "region"])
        var headers: [String: String] = [:]
        if let value = reader.value("headers") {
            guard case .object(let fields) = value else { throw AdminError.invalid("headers", "must be an object of header names to strings") }
            for (name, header) in fields {
                guard let text = header.stringValue else { throw AdminError.invalid("headers.\(name)", "must be a string") }
                headers[name.lowercased()] = text
            }
        }
        guard let bodyValue = reader.value("body") else {
            throw AdminError.invalid("body", "is required: the chat-completions request body to route")
        }
        var body = bodyValue
        if case .object(var fields) = body, fields["model"] == nil {
            fields["model"] = .string(route.alias)
            body = .object(fields)
        }
        let chat: ChatRequest
        do {
            chat = try ChatRequest(json: body, allowEmptyMessages: true)
        } catch {
            throw AdminError.invalid(error.param.map { "body.\($0)" } ?? "body", error.message)
        }
        var key: APIKeyConfig?
        if let keyID = try reader.string("key_id") {
            guard let record = try await self.store.listKeys(tenant: route.tenant).first(where: { $0.id == keyID }) else {
                throw AdminError.invalid("key_id", "key '\(keyID)' does not exist in tenant '\(route.tenant)'")
            }
            // What the node would answer before routing at all.
            guard record.revokedAt == nil else { throw AdminError.invalid("key_id", "key '\(keyID)' is revoked; nodes answer 401") }
            if let expiry = record.expiresAt, expiry <= Date() {
                throw AdminError.invalid("key_id", "key '\(keyID)' expired; nodes answer 401")
            }
            guard record.allowedRoutes.isEmpty || record.allowedRoutes.contains(route.alias) else {
                throw AdminError.invalid(
                    "key_id",
                    "key '\(keyID)' may not use route '\(route.alias)' (allowed_routes); nodes answer 404 model_not_found"
                )
            }
            key = APIKeyConfig(
                id: record.id,
                name: record.name,
                prefix: record.prefix,
                sha256: "",
                labels: record.labels,
                allowedRoutes: Set(record.allowedRoutes),
                policy: record.policy
            )
        }
        let region = try reader.string("region")
        guard let tenant = try await self.store.tenant(route.tenant) else {
            throw AdminError.notFound("tenant '\(route.tenant)' does not exist")
        }
        let providers = try await self.store.listProviders().map {
            ProviderConfig(name: $0.name, kind: $0.kind, baseURL: $0.baseURL, credentials: [])
        }
        let models = try await self.store.listModels().map {
            ModelConfig(
                name: $0.name,
                provider: $0.provider,
                upstreamModel: $0.upstreamModel,
                inputPricePerMTok: $0.inputPricePerMTok,
                outputPricePerMTok: $0.outputPricePerMTok,
                tags: $0.tags,
                capabilities: Set($0.capabilities),
                requestPriceMicros: $0.requestPriceMicros
            )
        }
        let config = RouteConfig(alias: route.alias, revision: route.revision, spec: route.spec)
        // The prompt versions the route uses, resolved as the snapshot compiler would.
        var prompts: [PromptVersionConfig] = []
        var promptLabels: [String: [String: Int]] = [:]
        for ref in route.spec.promptRefs {
            guard let record = try await self.store.prompt(tenant: tenant.name, name: ref.name) else { continue }
            promptLabels[ref.name] = record.labels
            let number: Int? =
                switch ref.selector {
                case .version(let version): version
                case .label(let label): record.labels[label]
                }
            if let number, !prompts.contains(where: { $0.name == ref.name && $0.version == number }),
                let version = try await self.store.promptVersions(tenant: tenant.name, name: ref.name, version: number).first
            {
                prompts.append(PromptVersionConfig(name: ref.name, version: number, spec: version.spec))
            }
        }
        let table = RoutingTable(
            version: 0,
            providers: providers,
            models: models,
            tenants: [
                TenantConfig(
                    name: tenant.name,
                    version: 0,
                    labels: tenant.labels,
                    keys: [],
                    routes: [config],
                    policy: tenant.policy,
                    prompts: prompts,
                    promptLabels: promptLabels
                )
            ]
        )
        let lookup: (String) -> String? = { headers[$0] }
        let facts = RequestFacts(chat: chat, header: lookup, key: key, tenantLabels: tenant.labels, region: region)
        let plan: AttemptPlan
        do {
            plan = try table.plan(tenant: tenant.name, route: config, facts: facts, keyPolicy: key?.policy ?? ServingPolicy())
        } catch {
            throw AdminError.conflict("route '\(route.alias)' names a model that is no longer in the catalog")
        }
        // What a node would answer before calling any upstream (policy, prompt variables, …).
        var refusal: APIError?
        do {
            _ = try plan.preflight(chat)
        } catch {
            refusal = error
        }
        return .json(Self.render(plan, facts: facts, stickySource: RequestFacts.stickySource(chat: chat, header: lookup), refusal: refusal))
    }

    static func render(_ plan: AttemptPlan, facts: RequestFacts, stickySource: String, refusal: APIError?) -> JSONValue {
        let decision = plan.decision
        return [
            "route": .string(plan.route.alias),
            "revision": .int(Int64(plan.route.revision)),
            "rule": .string(decision.rule),
            "variant": .string(decision.variant),
            "rules_evaluated": .array(decision.evaluated.map { ["rule": .string($0.rule), "matched": .bool($0.matched)] }),
            "sticky": [
                "key": .string(facts.stickyKey), "source": .string(stickySource),
                "bucket": decision.bucket.map { ["point": .int(Int64($0.point)), "total": .int(Int64($0.total))] } ?? .null,
            ],
            "facts": [
                "tag": facts.tag.map(JSONValue.string) ?? .null,
                "user": facts.user.map(JSONValue.string) ?? .null,
                "region": facts.region.map(JSONValue.string) ?? .null,
                "stream": .bool(facts.stream),
                "tools": .bool(facts.tools),
                "prompt_tokens": .int(Int64(facts.promptTokens())),
            ],
            "attempts": .array(
                plan.attempts.enumerated().map { position, attempt in
                    [
                        "position": .int(Int64(position + 1)),
                        "model": .string(attempt.model.name),
                        "provider": .string(attempt.provider.name),
                        "upstream_model": .string(attempt.model.upstreamModel),
                        "fallback": .bool(attempt.isFallback),
                        "params": .object(attempt.target.params),
                        "prompt": attempt.prompt.map { .string($0.label) } ?? .null,
                        "reason": .string(attempt.reason),
                    ]
                }
            ),
            "skipped": .array(plan.skipped.map { ["model": .string($0.model), "reason": .string($0.reason)] }),
            // What a node would answer instead of calling a target.
            "refused": refusal.map { error in
                [
                    "status": .int(Int64(error.status)), "code": error.code.map(JSONValue.string) ?? .null,
                    "param": error.param.map(JSONValue.string) ?? .null, "message": .string(error.message),
                ]
            } ?? .null,
        ]
    }
}
