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

/// `POST /v1/chat/completions`: authenticate, route by the route's rules, and run the attempt
/// plan through the executor (retries, circuit breakers, credential rotation, fallbacks).
struct ChatProxy: Sendable {
    let state: SnapshotState
    let adapter: ChatCompletionsAdapter
    let metrics: NodeMetrics
    let resilience: Resilience
    let region: String?
    let maxRequestBodyBytes: Int
    let maxResponseBodyBytes: Int

    func handle(_ request: Request, context: some RequestContext) async -> Response {
        let started = ContinuousClock.now
        var decision = DecisionHeaders(traceID: DecisionHeaders.makeTraceID())
        var logger = context.logger
        logger[metadataKey: "trace_id"] = .string(decision.traceID)
        var routeLabel = "-"
        do {
            guard let snapshot = self.state.loaded else { throw APIError.notReady }
            let key = try Self.authenticate(request, table: snapshot.table)
            let chat = try await self.parse(request)
            let route: RouteConfig
            do {
                route = try snapshot.table.route(tenant: key.tenant, alias: chat.model)
            } catch {
                throw APIError.unknownModel(chat.model)
            }
            let headers = request.headers
            let facts = RequestFacts(
                chat: chat,
                header: { name in HTTPField.Name(name).flatMap { headers[$0] } },
                key: key.key,
                tenantLabels: snapshot.table.tenants[key.tenant]?.labels ?? [:],
                region: self.region
            )
            let plan: AttemptPlan
            do {
                plan = try snapshot.table.plan(tenant: key.tenant, route: route, facts: facts)
            } catch {
                throw APIError.unknownModel(chat.model)
            }
            decision.route = plan.route.alias
            decision.revision = String(plan.route.revision)
            decision.rule = plan.decision.rule
            decision.variant = plan.decision.variant
            routeLabel = plan.label
            let executor = Executor(proxy: self, plan: plan, chat: chat, logger: logger)
            let response = try await executor.run(&decision)
            self.metrics.request(route: routeLabel, status: response.status.code, duration: started.duration(to: .now))
            return response
        } catch let error as APIError {
            self.metrics.request(route: routeLabel, status: error.status, duration: started.duration(to: .now))
            return Self.errorResponse(error, decision: decision)
        } catch {
            logger.error("unexpected error", metadata: ["error": "\(String(reflecting: error))"])
            return Self.errorResponse(
                APIError(status: 500, type: "server_error", code: "internal_error", message: "Internal error (trace \(decision.traceID))."),
                decision: decision
            )
        }
    }

    static func authenticate(_ request: Request, table: RoutingTable) throws(APIError) -> RoutingTable.KeyEntry {
        guard let header = request.headers[.authorization] else { throw .missingKey }
        // The scheme is case-insensitive (RFC 9110 §11.1).
        guard header.utf8.count > 7, header.prefix(7).lowercased() == "bearer " else { throw .invalidKey }
        let key = header.dropFirst(7).trimmingCharacters(in: .whitespaces)
        guard APIKeyFormat.prefix(of: key) != nil, let entry = table.keysByHash[Hashing.sha256Hex(Data(key.utf8))] else {
            throw .invalidKey
        }
        return entry
    }

    private func parse(_ request: Request) async throws -> ChatRequest {
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
        let json: JSONValue
        do {
            json = try JSONValue(parsing: buffer.readableBytesView)
        } catch {
            throw APIError.invalidRequest(
                "We could not parse the JSON body of your request. The body must be a JSON object.",
                code: "invalid_json"
            )
        }
        return try ChatRequest(json: json)
    }

    static func errorResponse(_ error: APIError, decision: DecisionHeaders) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        decision.apply(to: &headers)
        return Response(
            status: .init(code: error.status),
            headers: headers,
            body: .init(byteBuffer: ByteBuffer(bytes: error.json.serialized()))
        )
    }
}
