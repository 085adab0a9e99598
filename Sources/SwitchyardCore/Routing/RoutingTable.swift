/// A snapshot indexed for the hot path: every lookup a request needs is one dictionary access.
/// Built once per snapshot swap, then shared read-only by all requests.
public struct RoutingTable: Sendable {
    public struct TenantIndex: Sendable {
        public var name: String
        public var labels: [String: String]
        public var routes: [String: RouteConfig]
        /// Route aliases in a stable order, for `GET /v1/models`.
        public var aliases: [String]
        /// Which models may serve the tenant.
        public var policy: ServingPolicy
        /// Prompt name → version → spec.
        public var prompts: [String: [Int: PromptSpec]]
        /// Prompt name → label → version.
        public var promptLabels: [String: [String: Int]]
        /// The tenant's budgets.
        public var budgets: [BudgetConfig]
        /// The lease configurations of the tenant's rate limits (``RateLimits/quotas(scope:)``).
        public var rateQuotas: [BudgetConfig] = []

        /// The prompt version `ref` names, if this snapshot has it.
        public func resolve(_ ref: PromptRef) -> ResolvedPrompt? {
            let version: Int?
            switch ref.selector {
            case .version(let number): version = number
            case .label(let label): version = self.promptLabels[ref.name]?[label]
            }
            guard let version, let spec = self.prompts[ref.name]?[version] else { return nil }
            return ResolvedPrompt(ref: ref, version: version, spec: spec)
        }
    }

    public struct KeyEntry: Sendable {
        public var tenant: String
        public var key: APIKeyConfig
        /// The lease configurations of the key's rate limits.
        public var rateQuotas: [BudgetConfig] = []
    }

    public let version: Int
    /// API keys by the SHA-256 of their secret.
    public let keys: KeyIndex
    public let tenants: [String: TenantIndex]
    public let models: [String: ModelConfig]
    public let providers: [String: ProviderConfig]

    /// Builds the index. Call only on a snapshot that passed ``ConfigSnapshot/validate(limits:)``.
    public init(_ snapshot: ConfigSnapshot) {
        self.init(version: snapshot.version, providers: snapshot.providers, models: snapshot.models, tenants: snapshot.tenants)
    }

    public init(version: Int, providers: [ProviderConfig], models: [ModelConfig], tenants: [TenantConfig]) {
        self.version = version
        self.providers = Dictionary(providers.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        self.models = Dictionary(models.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var index: [String: TenantIndex] = [:]
        index.reserveCapacity(tenants.count)
        for tenant in tenants {
            index[tenant.name] = TenantIndex(
                name: tenant.name,
                labels: tenant.labels,
                routes: Dictionary(tenant.routes.map { ($0.alias, $0) }, uniquingKeysWith: { first, _ in first }),
                aliases: tenant.routes.map(\.alias).sorted(),
                policy: tenant.policy,
                prompts: tenant.prompts.reduce(into: [:]) { $0[$1.name, default: [:]][$1.version] = $1.spec },
                promptLabels: tenant.promptLabels,
                budgets: tenant.budgets,
                rateQuotas: tenant.rateLimits.quotas(scope: "")
            )
        }
        self.keys = KeyIndex(tenants: tenants)
        self.tenants = index
    }

    /// The route a client's `model` names in its tenant.
    public func route(tenant: String, alias: String) throws(RoutingError) -> RouteConfig {
        guard let route = self.tenants[tenant]?.routes[alias] else { throw .unknownModel(alias) }
        return route
    }

    /// The attempt plan for a request: the route's rules pick the primary target, then the
    /// fallback chain follows — targets on another provider than the primary's first (a
    /// provider outage takes all its models down), the rest after, each in declared order.
    /// Targets the tenant's or the key's serving policy forbids, or that lack a capability the
    /// request needs, are skipped (with the reason); when none is left the plan has no attempts.
    public func plan(
        tenant: String,
        route: RouteConfig,
        facts: RequestFacts,
        keyPolicy: ServingPolicy = ServingPolicy()
    ) throws(RoutingError) -> AttemptPlan {
        var plan = try self.unfilteredPlan(tenant: tenant, route: route, facts: facts)
        let index = self.tenants[tenant]
        let tenantPolicy = index?.policy ?? ServingPolicy()
        let primaryPrompt = plan.decision.target.prompt
        var kept: [AttemptPlan.Attempt] = []
        for var attempt in plan.attempts {
            if let ref = attempt.target.prompt ?? primaryPrompt {
                // A validated snapshot resolves every reference; skip defensively rather than crash.
                guard let prompt = index?.resolve(ref) else {
                    plan.skipped.append(.init(model: attempt.model.name, reason: "prompt '\(ref)' is not in this snapshot"))
                    continue
                }
                guard prompt.spec.variant(forModel: attempt.model.name) != nil else {
                    plan.skipped.append(
                        .init(model: attempt.model.name, reason: "prompt '\(prompt.label)' has no variant for model '\(attempt.model.name)'")
                    )
                    continue
                }
                attempt.prompt = prompt
            }
            // Tools come from the client or from the prompt.
            let needsTools = facts.tools || !(attempt.prompt?.spec.tools.isEmpty ?? true)
            if let refusal = tenantPolicy.refusal(of: attempt.model) {
                plan.skipped.append(.init(model: attempt.model.name, reason: "tenant policy: \(refusal)", byPolicy: true))
            } else if let refusal = keyPolicy.refusal(of: attempt.model) {
                plan.skipped.append(.init(model: attempt.model.name, reason: "key policy: \(refusal)", byPolicy: true))
            } else if needsTools, !attempt.model.capabilities.isEmpty, !attempt.model.capabilities.contains("tools") {
                plan.skipped.append(
                    .init(
                        model: attempt.model.name,
                        reason: "model '\(attempt.model.name)' lacks the 'tools' capability the request needs",
                        byPolicy: true
                    )
                )
            } else {
                kept.append(attempt)
            }
        }
        plan.attempts = kept
        return plan
    }

    func unfilteredPlan(tenant: String, route: RouteConfig, facts: RequestFacts) throws(RoutingError) -> AttemptPlan {
        let decision = route.spec.decide(facts, routeKey: "\(tenant)/\(route.alias)")
        var attempts: [AttemptPlan.Attempt] = []
        var skipped: [AttemptPlan.Skip] = []
        let choice =
            decision.rule == "default" ? "no rule matched, default branch" : "rule '\(decision.rule)' matched"
        let pick = decision.bucket.map { "; variant '\(decision.variant)' (sticky bucket \($0.point) of \($0.total))" } ?? ""
        guard let primary = self.resolve(decision.target) else {
            throw .noUsableTarget(route.alias)
        }
        attempts.append(.init(model: primary.model, provider: primary.provider, target: decision.target, isFallback: false, reason: choice + pick))
        var other: [AttemptPlan.Attempt] = []
        var same: [AttemptPlan.Attempt] = []
        var seen: Set<String> = [decision.target.model]
        for (position, target) in route.spec.fallbacks.enumerated() {
            guard seen.insert(target.model).inserted else {
                skipped.append(.init(model: target.model, reason: "fallbacks[\(position)] repeats a model already in the plan"))
                continue
            }
            // A validated snapshot resolves every reference; skip defensively rather than crash.
            guard let resolved = self.resolve(target) else {
                skipped.append(.init(model: target.model, reason: "fallbacks[\(position)] names a model missing from the catalog"))
                continue
            }
            if resolved.provider.name == primary.provider.name {
                same.append(
                    .init(
                        model: resolved.model,
                        provider: resolved.provider,
                        target: target,
                        isFallback: true,
                        reason: "fallbacks[\(position)]; same provider as the primary, so after other providers"
                    )
                )
            } else {
                other.append(
                    .init(
                        model: resolved.model,
                        provider: resolved.provider,
                        target: target,
                        isFallback: true,
                        reason: "fallbacks[\(position)]; provider '\(resolved.provider.name)' differs from the primary's"
                    )
                )
            }
        }
        attempts += other + same
        return AttemptPlan(tenant: tenant, route: route, decision: decision, attempts: attempts, skipped: skipped)
    }

    func resolve(_ target: Target) -> (model: ModelConfig, provider: ProviderConfig)? {
        guard let model = self.models[target.model], let provider = self.providers[model.provider] else { return nil }
        return (model, provider)
    }
}

/// A prompt reference resolved to its version.
public struct ResolvedPrompt: Sendable {
    public var ref: PromptRef
    public var version: Int
    public var spec: PromptSpec

    /// `name@version`, for headers, metrics and messages.
    public var label: String { "\(self.ref.name)@\(self.version)" }
}

/// The outcome of routing: which route revision and rule decided, and the ordered attempts.
public struct AttemptPlan: Sendable {
    public struct Attempt: Sendable {
        public var model: ModelConfig
        public var provider: ProviderConfig
        /// The target as the route wrote it (with its parameter overrides).
        public var target: Target
        public var isFallback: Bool
        /// Why this attempt is in the plan, at this position.
        public var reason: String
        /// The prompt version rendered for this attempt, if the route uses one.
        public var prompt: ResolvedPrompt?
    }

    public struct Skip: Sendable, Hashable {
        public var model: String
        public var reason: String
        /// Skipped by a serving policy or a missing capability (not by a config fault).
        public var byPolicy = false
    }

    public var tenant: String
    public var route: RouteConfig
    public var decision: RouteDecision
    public var attempts: [Attempt]
    /// Targets the route names that are not in the plan, and why.
    public var skipped: [Skip]

    /// `tenant/alias`, the route's name in metrics and logs.
    public var label: String { "\(self.tenant)/\(self.route.alias)" }
}

public enum RoutingError: Error, Sendable, Hashable {
    case unknownModel(String)
    case noUsableTarget(String)
}

/// How an upstream attempt failed, and what may happen next.
///
/// Fallback is for transport failures, not for quality: connection errors, timeouts, 5xx and 429
/// move on to the next target, and so does a provider refusing the router itself (bad
/// credentials or base URL: 401, 403, 404, 407, a redirect); any other 4xx is the caller's
/// problem and is returned as is.
public enum AttemptFailure: Error, Sendable, Hashable {
    case connect(String)
    case timeout(String)
    case status(Int)
    /// The provider refused the router (401, 403, 404, 407): a configuration fault.
    case misconfigured(Int)
    case interrupted(String)
    case unsupported(String)
    /// The circuit breaker of the target is open; it was not called.
    case circuitOpen
    /// Every credential of the provider is cooling down after 429 or 401/403; it was not called.
    case credentialsCooling
    /// Every credential of the provider is at its configured per-minute capacity (across the
    /// fleet); it was not called.
    case atCapacity
    /// The answer does not match the prompt's response schema (a quality failure, not a
    /// transport one: it never opens a circuit).
    case invalidOutput(String)

    public static func forStatus(_ code: Int) -> AttemptFailure {
        // A redirect (never followed) also means the base URL is wrong.
        [401, 403, 404, 407].contains(code) || (300..<400).contains(code) ? .misconfigured(code) : .status(code)
    }

    public var allowsFallback: Bool {
        switch self {
        case .status(let code): code == 429 || code >= 500
        default: true
        }
    }

    /// Whether trying the same target again (after a backoff) may help: the request never got an
    /// answer, or the provider said it is busy or briefly broken. A timeout already spent the
    /// attempt's time, so it moves on instead.
    public var isRetryable: Bool {
        switch self {
        case .connect, .interrupted: true
        case .status(let code): [429, 500, 502, 503, 504, 529].contains(code)
        default: false
        }
    }

    /// Whether the failure says the target is unhealthy (counts towards opening its circuit).
    /// A 429 is the provider's rate limit, handled by credential cool-down instead.
    public var indicatesUnhealthy: Bool {
        switch self {
        case .connect, .timeout, .interrupted: true
        case .status(let code): code >= 500
        default: false
        }
    }

    /// A short label for headers, logs and metrics.
    public var label: String {
        switch self {
        case .connect: "connect_error"
        case .timeout: "timeout"
        case .status(let code): "status_\(code)"
        case .misconfigured(let code): "refused_\(code)"
        case .interrupted: "interrupted"
        case .unsupported: "unsupported"
        case .circuitOpen: "circuit_open"
        case .credentialsCooling: "credentials_cooling"
        case .atCapacity: "at_capacity"
        case .invalidOutput: "invalid_output"
        }
    }
}

extension AttemptPlan {
    /// What a node answers before calling any upstream, if the request cannot go ahead: no
    /// target left (403 when a policy refused them, 503 when the config left none), or, for a
    /// chat, the prompt's checks (variables, streaming, tools) and an empty conversation.
    /// Returns the prompt's rendered variables. `simulate` runs the same checks.
    public func preflight(_ chat: ChatRequest?) throws(APIError) -> [String: String] {
        guard let first = self.attempts.first else {
            let refusals = self.skipped.filter(\.byPolicy)
            if !refusals.isEmpty {
                throw APIError(
                    status: 403,
                    type: "invalid_request_error",
                    code: "policy_violation",
                    message: "No target of the route '\(self.route.alias)' may serve this request: \(refusals.map(\.reason).joined(separator: "; "))."
                )
            }
            throw APIError(
                status: 503,
                type: "upstream_error",
                code: "upstream_unavailable",
                message: "The route '\(self.route.alias)' has no usable target on this node."
            )
        }
        guard let chat else { return [:] }
        guard let prompt = first.prompt else {
            if !chat.hasMessages { throw ChatRequest.noMessages }
            return [:]
        }
        let values = try prompt.spec.resolveVariables(chat.promptVariables, prompt: prompt.label)
        if chat.stream, let refusal = prompt.streamRefusal(model: first.model.name, kind: first.provider.kind) {
            throw APIError.invalidRequest(refusal, param: "stream", code: "stream_unsupported_by_prompt")
        }
        if chat.hasTools, !prompt.spec.tools.isEmpty {
            throw APIError.invalidRequest(
                "The prompt '\(prompt.label)' defines the tools for this route; send no 'tools'.",
                param: "tools",
                code: "tools_conflict_with_prompt"
            )
        }
        return values
    }
}

extension ResolvedPrompt {
    /// Why this prompt cannot stream for `model` on a `kind` provider, if it cannot: a response
    /// schema is checked on the whole answer, and renamed tool calls are mapped back on complete
    /// answers only.
    public func streamRefusal(model: String, kind: ProviderKind) -> String? {
        guard let variant = self.spec.variant(forModel: model) else { return nil }
        if self.spec.responseSchema(for: variant) != nil {
            return "The prompt '\(self.label)' declares a response schema; its answers are checked before they are sent, so ask with stream: false."
        }
        if self.spec.hasToolMapping(for: kind) {
            return
                "The prompt '\(self.label)' renames tools for \(kind.rawValue) models; tool calls are mapped back on complete answers only, so ask with stream: false."
        }
        return nil
    }
}
