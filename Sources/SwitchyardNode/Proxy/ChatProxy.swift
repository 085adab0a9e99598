import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOFoundationCompat
import SwitchyardCore
import SwitchyardProviders
import SwitchyardWire

/// The data-plane endpoints that call providers: `POST /v1/chat/completions` (OpenAI),
/// `POST /v1/messages` (Anthropic) and `POST /v1/embeddings`. Each authenticates, routes by the
/// route's rules, and runs the attempt plan through the ``Executor`` (retries, circuit
/// breakers, credential rotation, fallbacks).
struct ChatProxy: Sendable {
    enum Endpoint: Sendable {
        case chatCompletions
        case messages
        case embeddings

        var format: ClientFormat { self == .messages ? .anthropic : .openai }
    }

    let state: SnapshotState
    let adapter: ProviderAdapter
    let metrics: NodeMetrics
    let resilience: Resilience
    let ledger: BudgetLedger
    let canaries: CanaryCounters
    let region: String?
    let maxRequestBodyBytes: Int
    let maxResponseBodyBytes: Int

    func handle(_ request: Request, context: some RequestContext, endpoint: Endpoint) async -> Response {
        let started = ContinuousClock.now
        var decision = DecisionHeaders(traceID: DecisionHeaders.makeTraceID())
        var logger = context.logger
        logger[metadataKey: "trace_id"] = .string(decision.traceID)
        var routeLabel = "-"
        // Set when the request took a canary route's default branch.
        var canary: (tag: CanaryTag, tenant: String, alias: String, primary: String)?
        let format = endpoint.format
        do {
            guard let snapshot = self.state.loaded else { throw APIError.notReady }
            let key = try Self.authenticate(request, table: snapshot.table)
            let (rawBody, json) = try await self.parse(request)
            let operation: Executor.Operation
            let alias: String
            let facts: RequestFacts
            let headers = request.headers
            let lookup: (String) -> String? = { name in HTTPField.Name(name).flatMap { headers[$0] } }
            let tenantLabels = snapshot.table.tenants[key.tenant]?.labels ?? [:]
            switch endpoint {
            case .chatCompletions, .messages:
                let chat = try ChatRequest(
                    json: endpoint == .messages ? try AnthropicInbound.chatRequest(json) : json,
                    allowEmptyMessages: true
                )
                operation = .chat(chat, format)
                alias = chat.model
                facts = RequestFacts(chat: chat, header: lookup, key: key.key, tenantLabels: tenantLabels, region: self.region)
            case .embeddings:
                let body = try Self.embeddingsBody(json)
                alias = body["model"]?.stringValue ?? ""
                operation = .embeddings(body)
                facts = RequestFacts(
                    tag: lookup(RequestFacts.tagHeader),
                    user: body["user"]?.stringValue,
                    region: self.region,
                    keyID: key.key.id,
                    keyName: key.key.name,
                    tenantLabels: tenantLabels,
                    keyLabels: key.key.labels,
                    stickyKey: RequestFacts.stickyHeader(lookup),
                    header: lookup,
                    promptTokens: { (EmbeddingsInput.byteCount(body) + 3) / 4 }
                )
            }
            let plan: AttemptPlan
            do {
                // A route the key may not use answers like one that does not exist.
                guard key.key.mayUse(route: alias) else { throw RoutingError.unknownModel(alias) }
                let route = try snapshot.table.route(tenant: key.tenant, alias: alias)
                plan = try snapshot.table.plan(tenant: key.tenant, route: route, facts: facts, keyPolicy: key.key.policy)
            } catch RoutingError.noUsableTarget {
                // A config fault (a validated snapshot never has it), not the client's.
                throw APIError(
                    status: 503,
                    type: "upstream_error",
                    code: "upstream_unavailable",
                    message: "The route '\(alias)' has no usable target on this node."
                )
            } catch {
                throw APIError.unknownModel(alias)
            }
            decision.route = plan.route.alias
            decision.revision = String(plan.route.revision)
            decision.rule = plan.decision.rule
            decision.variant = plan.decision.variant
            routeLabel = plan.label
            if let tag = plan.route.spec.canary, plan.decision.rule == "default", let primary = plan.attempts.first?.model.name {
                canary = (tag, key.tenant, plan.route.alias, primary)
                // The trace id says which canary step and arm served the request, for feedback.
                decision.traceID = CanaryTrace.encode(
                    decision.traceID,
                    canary: tag.id,
                    step: tag.step,
                    candidate: plan.decision.variant == RouteSpec.candidateVariant
                )
                logger[metadataKey: "trace_id"] = .string(decision.traceID)
            }
            // Refusals decided before any upstream call: the policy, and a prompt's variables.
            let chat: ChatRequest? = if case .chat(let chat, _) = operation { chat } else { nil }
            let promptValues: [String: String]
            do {
                promptValues = try plan.preflight(chat)
            } catch {
                if error.status == 503 { logger.error("route has no usable target", metadata: ["route": "\(alias)"]) }
                throw error
            }
            // Budgets: the worst case is reserved before any upstream call, in memory unless this
            // node's lease cannot cover it.
            let settlement = try await self.reserve(plan: plan, operation: operation, key: key, alias: alias, tag: facts.tag)
            let executor = Executor(
                proxy: self,
                plan: plan,
                operation: operation,
                alias: alias,
                promptValues: promptValues,
                rawBody: endpoint == .chatCompletions ? rawBody : nil,
                settlement: settlement,
                traceID: decision.traceID,
                requestDeadline: started + .milliseconds(plan.route.spec.timeouts.requestMs),
                logger: logger
            )
            let response: Response
            do {
                response = try await executor.run(&decision)
            } catch {
                settlement.finish()
                throw error
            }
            settlement.finishUnlessStreaming()
            let duration = started.duration(to: .now)
            self.metrics.request(route: routeLabel, status: response.status.code, duration: duration)
            if let canary {
                self.countCanary(
                    canary,
                    decision: decision,
                    failed: decision.model != canary.primary,
                    duration: duration,
                    cost: settlement.settledCost
                )
            }
            return response
        } catch let error as APIError {
            let duration = started.duration(to: .now)
            self.metrics.request(route: routeLabel, status: error.status, duration: duration)
            if let canary {
                // A refusal before any upstream call (budget, rate limit, bad variables) says nothing about the variant.
                if decision.attempts > 0 { self.countCanary(canary, decision: decision, failed: true, duration: duration, cost: nil) }
            }
            return Self.errorResponse(error, format: format, decision: decision)
        } catch is CancellationError {
            // The server is shutting down under this request; nobody is left to read a long answer.
            logger.debug("request cancelled")
            self.metrics.request(route: routeLabel, status: 503, duration: started.duration(to: .now))
            return Self.errorResponse(
                APIError(status: 503, type: "server_error", code: "shutting_down", message: "The node is shutting down; retry."),
                format: format,
                decision: decision
            )
        } catch {
            logger.error("unexpected error", metadata: ["error": "\(String(reflecting: error))"])
            self.metrics.request(route: routeLabel, status: 500, duration: started.duration(to: .now))
            return Self.errorResponse(
                APIError(status: 500, type: "server_error", code: "internal_error", message: "Internal error (trace \(decision.traceID))."),
                format: format,
                decision: decision
            )
        }
    }

    func countCanary(
        _ canary: (tag: CanaryTag, tenant: String, alias: String, primary: String),
        decision: DecisionHeaders,
        failed: Bool,
        duration: Duration,
        cost: Int64?
    ) {
        self.canaries.record(
            CanaryCounters.Observation(
                tag: canary.tag,
                tenant: canary.tenant,
                route: canary.alias,
                candidate: decision.variant == RouteSpec.candidateVariant,
                failed: failed,
                invalidOutput: decision.invalidOutput,
                duration: duration,
                costMicros: cost
            )
        )
    }

    /// Output tokens assumed for a request that sets no limit, when reserving its worst case.
    static let defaultMaxOutputTokens = 4_096

    /// The most tokens `attempt` can use: its prompt (a prompt's templates and variables
    /// included) and its output limit.
    static func worstCase(_ attempt: AttemptPlan.Attempt, operation: Executor.Operation) -> (promptTokens: Int, outputTokens: Int) {
        switch operation {
        case .chat(let chat, _):
            // What the target forces wins over what the client asked; each of `n` choices may use
            // all of it; a prompt's templates and variables add to the input.
            let forced = attempt.target.params["max_completion_tokens"]?.intValue ?? attempt.target.params["max_tokens"]?.intValue
            let limit = forced.map { Int(max(0, min($0, 10_000_000))) } ?? chat.maxOutputTokens(fallback: Self.defaultMaxOutputTokens)
            let choices = Int(max(1, min(chat.body["n"]?.intValue ?? 1, 128)))
            let rendered = attempt.prompt.map { $0.spec.json.serialized().count + (chat.promptVariables?.serialized().count ?? 0) } ?? 0
            return (chat.promptTokenUpperBound + rendered, limit * choices)
        case .embeddings(let body):
            return (EmbeddingsInput.tokenUpperBound(body), 0)
        }
    }

    /// Reserves the request's worst case (over every model the plan may call) from each budget
    /// and rate limit that applies to it: its cost from budgets, one request and its tokens from
    /// the key's and the tenant's rate limits.
    func reserve(
        plan: AttemptPlan,
        operation: Executor.Operation,
        key: RoutingTable.KeyEntry,
        alias: String,
        tag: String?
    ) async throws
        -> Settlement
    {
        let tenant = self.state.loaded?.table.tenants[key.tenant]
        let budgets = tenant?.budgets.filter { $0.applies(keyID: key.key.id, route: alias, tag: tag) } ?? []
        let rates = (tenant?.rateQuotas ?? []) + key.rateQuotas
        let servedAt = ModelConfig.nowUnixMs()
        var worst: Int64 = 0
        var worstTokens: Int64 = 0
        if !budgets.isEmpty || !rates.isEmpty {
            for attempt in plan.attempts {
                let (promptTokens, outputTokens) = Self.worstCase(attempt, operation: operation)
                worst = max(worst, attempt.model.costMicros(promptTokens: promptTokens, completionTokens: outputTokens, atUnixMs: servedAt))
                worstTokens = max(worstTokens, Int64(promptTokens) + Int64(outputTokens))
            }
        }
        var entries = budgets.map { BudgetLedger.Entry(tenant: key.tenant, config: $0, amount: worst) }
        for rate in rates {
            entries.append(BudgetLedger.Entry(tenant: key.tenant, config: rate, amount: rate.metric == .requests ? 1 : max(1, worstTokens)))
        }
        let reservation = try await self.ledger.reserve(entries) ?? .none
        let day = UTCDay.string(unixSeconds: Int64(Date().timeIntervalSince1970))
        return Settlement(
            ledger: self.ledger,
            reservation: reservation,
            row: UsageBuffer.Row(day: day, tenant: key.tenant, keyID: key.key.id, route: alias, model: ""),
            servedAtUnixMs: servedAt
        )
    }

    static func authenticate(_ request: Request, table: RoutingTable) throws(APIError) -> RoutingTable.KeyEntry {
        try KeyAuthentication.authenticate(
            authorization: request.headers[.authorization],
            apiKey: request.headers[KeyAuthentication.apiKeyHeader],
            table: table
        )
    }

    private func parse(_ request: Request) async throws -> (ByteBuffer, JSONValue) {
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: self.maxRequestBodyBytes)
        } catch {
            throw APIError(
                status: 413,
                type: "invalid_request_error",
                code: "request_too_large",
                message: "The request body exceeds \(self.maxRequestBodyBytes) bytes."
            )
        }
        do {
            return (buffer, try JSONValue(parsing: buffer.readableBytesView))
        } catch {
            throw APIError.invalidRequest(
                "We could not parse the JSON body of your request. The body must be a JSON object.",
                code: "invalid_json"
            )
        }
    }

    /// Checks the parts of an embeddings body the router relies on.
    static func embeddingsBody(_ json: JSONValue) throws(APIError) -> [String: JSONValue] {
        guard case .object(let body) = json else { throw .invalidRequest("The request body must be a JSON object.") }
        guard let model = body["model"]?.stringValue, !model.isEmpty else {
            throw .invalidRequest("You must provide a model parameter.", param: "model", code: "missing_required_parameter")
        }
        switch body["input"] ?? .null {
        case .string(let text) where !text.isEmpty:
            break
        case .array(let items) where !items.isEmpty && items.count <= 2048:
            break
        default:
            throw .invalidRequest(
                "'input' must be a non-empty string or a list of 1-2048 inputs.",
                param: "input",
                code: "invalid_value"
            )
        }
        return body
    }

    /// An error answer in the client's format, with the decision headers.
    static func errorResponse(_ error: APIError, format: ClientFormat = .openai, decision: DecisionHeaders) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        if let seconds = error.retryAfterSeconds { headers[.retryAfter] = String(seconds) }
        decision.apply(to: &headers)
        return Response(
            status: .init(code: error.status),
            headers: headers,
            body: .init(byteBuffer: ByteBuffer(bytes: format.errorBody(error).serialized()))
        )
    }
}
