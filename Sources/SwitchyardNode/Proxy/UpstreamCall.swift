import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import SwitchyardCore
import SwitchyardProviders

/// One upstream call and the relay of its answer in the client's format.
extension Executor {
    /// Whether bytes can go from the provider to the client untouched (both speak OpenAI).
    func passesThrough(_ attempt: AttemptPlan.Attempt) -> Bool {
        attempt.provider.kind.speaksOpenAI && self.format == .openai
    }

    var streams: Bool {
        if case .chat(let chat, _) = self.operation { return chat.stream }
        return false
    }

    func call(
        _ attempt: AttemptPlan.Attempt,
        credential: ProviderCredential?,
        decision: DecisionHeaders,
        repair: Repair? = nil
    ) async throws -> Outcome {
        let timeouts = self.plan.route.spec.timeouts
        let start = ContinuousClock.now
        let totalDeadline = min(start + .milliseconds(timeouts.totalMs), self.requestDeadline)
        let firstTokenDeadline = min(start + .milliseconds(timeouts.firstTokenMs), totalDeadline)
        let upstreamRequest: UpstreamRequest
        do {
            upstreamRequest = try self.makeRequest(attempt, credential: credential, repair: repair)
        } catch {
            // This target cannot express the request (e.g. Anthropic has no embeddings): another may.
            return .failed(.unsupported(TranslationError.describe(error)), retryAfter: nil)
        }
        do {
            // A stream must start within first_token_ms; a complete answer has total_ms.
            let headDeadline = self.streams ? firstTokenDeadline : totalDeadline
            let response = try await self.proxy.adapter.send(
                upstreamRequest,
                collectUpTo: self.streams ? nil : self.proxy.maxResponseBodyBytes,
                deadline: .now() + .milliseconds(ContinuousClock.now.duration(to: headDeadline).milliseconds),
                logger: self.logger
            )
            let status = Int(response.status.code)
            if (200..<300).contains(status) {
                if self.streams {
                    return .answered(
                        try await self.relayStream(
                            response,
                            attempt: attempt,
                            decision: decision,
                            firstTokenDeadline: firstTokenDeadline,
                            idle: .milliseconds(timeouts.idleMs),
                            totalDeadline: totalDeadline
                        )
                    )
                }
                let result = try await self.relayBody(response, attempt: attempt, decision: decision, deadline: totalDeadline)
                self.proxy.metrics.attempt(provider: attempt.provider.name, model: attempt.model.name, outcome: "ok")
                return .answered(result)
            }
            let failure = AttemptFailure.forStatus(status)
            guard failure.allowsFallback else {
                // The request itself was refused: the next target would get the same. No fallback.
                self.proxy.metrics.attempt(provider: attempt.provider.name, model: attempt.model.name, outcome: failure.label)
                return .answered(await self.relayRefusal(response, attempt: attempt, decision: decision, deadline: totalDeadline))
            }
            // Drain (bounded) so the connection can be reused, then report.
            let drained = try? await withDeadline(min(totalDeadline, .now + .milliseconds(250))) {
                try await response.body.collect(upTo: 1 << 20)
            }
            // OpenAI's 429 `insufficient_quota` is no rate limit: the key has no money left.
            if status == 429, let drained, String(buffer: drained).contains("insufficient_quota") {
                return .failed(.misconfigured(429), retryAfter: nil)
            }
            return .failed(failure, retryAfter: Self.retryAfter(response.headers))
        } catch let invalid as InvalidOutput {
            // Counted by the executor, which decides the recovery.
            return .invalidOutput(text: invalid.text, errors: invalid.errors)
        } catch let error as APIError {
            // Decided, not a transport failure (e.g. an oversized answer): no fallback.
            self.proxy.metrics.attempt(provider: attempt.provider.name, model: attempt.model.name, outcome: error.code ?? "error")
            throw error
        } catch {
            // Shutting down (or the caller gave up): not the target's fault, nothing to record.
            if Task.isCancelled { throw CancellationError() }
            let failure: AttemptFailure =
                error is DeadlineExceeded ? .timeout("no answer within the route's timeout") : ProviderAdapter.classify(error)
            return .failed(failure, retryAfter: nil)
        }
    }

    func makeRequest(
        _ attempt: AttemptPlan.Attempt,
        credential: ProviderCredential?,
        repair: Repair? = nil
    ) throws(TranslationError) -> UpstreamRequest {
        let upstreamModel = attempt.model.upstreamModel
        switch self.operation {
        case .chat(let chat, let format):
            if let spliced = self.splicedBody(chat, format: format, attempt: attempt, repair: repair) {
                return self.proxy.adapter.chatRequest(provider: attempt.provider, credential: credential, encodedBody: spliced)
            }
            guard case .object(var body) = chat.upstreamBody(upstreamModel: upstreamModel, params: attempt.target.params) else {
                throw TranslationError("the request body is not an object")
            }
            if let prompt = attempt.prompt {
                body = try self.render(prompt, chat: chat, attempt: attempt, body: body, repair: repair)
            }
            return try self.proxy.adapter.chatRequest(
                provider: attempt.provider,
                credential: credential,
                upstreamModel: upstreamModel,
                body: body,
                stream: chat.stream
            )
        case .embeddings(var body):
            body["model"] = .string(upstreamModel)
            return try self.proxy.adapter.embeddingsRequest(
                provider: attempt.provider,
                credential: credential,
                upstreamModel: upstreamModel,
                body: body
            )
        }
    }

    /// The client's own bytes with only the model replaced, when nothing else of the body
    /// changes: OpenAI in and out, no prompt, no parameter overrides, no prompt variables to
    /// strip, not streaming (a stream gets `stream_options` added). Long prompts are then copied,
    /// not decoded into a tree and encoded again.
    func splicedBody(_ chat: ChatRequest, format: ClientFormat, attempt: AttemptPlan.Attempt, repair: Repair?) -> ByteBuffer? {
        guard format == .openai, repair == nil, attempt.prompt == nil, attempt.target.params.isEmpty, !chat.stream,
            attempt.provider.kind.speaksOpenAI, chat.body["metadata"]?["prompt_variables"] == nil, let raw = self.rawBody
        else { return nil }
        let spliced = raw.readableBytesView.withContiguousStorageIfAvailable {
            JSONSplice.replacingTopLevelString("model", in: $0, with: attempt.model.upstreamModel)
        }
        return spliced.flatMap { $0 }.map { ByteBuffer(bytes: $0) }
    }

    /// A complete (non-streaming) upstream answer, relayed (or translated) with its status.
    private func relayBody(
        _ response: HTTPClientResponse,
        attempt: AttemptPlan.Attempt,
        decision: DecisionHeaders,
        deadline: ContinuousClock.Instant
    ) async throws -> Response {
        let limit = self.proxy.maxResponseBodyBytes
        let body: ByteBuffer
        do {
            body = try await withDeadline(deadline) { try await response.body.collect(upTo: limit) }
        } catch is NIOTooManyBytesError {
            throw APIError(
                status: 502,
                type: "upstream_error",
                code: "upstream_response_too_large",
                message: "The provider's answer exceeds this node's limit of \(limit) bytes."
            )
        }
        let json = try? JSONValue(parsing: body.readableBytesView)
        var headers = HTTPFields()
        decision.apply(to: &headers)
        if case .chat = self.operation, let prompt = attempt.prompt {
            return try self.relayPrompted(json, prompt: prompt, attempt: attempt, status: Int(response.status.code), headers: headers)
        }
        if self.passesThrough(attempt) {
            let usage = json.flatMap { Usage(completion: $0) }
            if let usage { self.proxy.metrics.tokens(route: self.plan.label, model: attempt.model.name, usage: usage) }
            self.settlement?.answered(by: attempt.model, usage: usage)
            headers[.contentType] = response.headers.first(name: "content-type") ?? "application/json"
            return Response(status: .init(code: Int(response.status.code)), headers: headers, body: .init(byteBuffer: body))
        }
        guard let json else { throw AttemptFailure.interrupted("the provider's answer is not JSON") }
        let translated: JSONValue
        do {
            switch self.operation {
            case .chat:
                let canonical = try ProviderAdapter.canonicalCompletion(
                    kind: attempt.provider.kind,
                    json,
                    model: attempt.model.upstreamModel,
                    id: "chatcmpl-" + self.traceID
                )
                let usage = Usage(completion: canonical)
                if let usage { self.proxy.metrics.tokens(route: self.plan.label, model: attempt.model.name, usage: usage) }
                self.settlement?.answered(by: attempt.model, usage: usage)
                translated = self.format.completionBody(canonical, alias: self.alias)
            case .embeddings(let request):
                translated = try ProviderAdapter.canonicalEmbeddings(
                    kind: attempt.provider.kind,
                    json,
                    model: attempt.model.upstreamModel,
                    inputBytes: EmbeddingsInput.byteCount(request)
                )
                self.settlement?.answered(by: attempt.model, usage: Usage(completion: translated))
            }
        } catch {
            throw AttemptFailure.interrupted("the provider's answer does not translate: \(TranslationError.describe(error))")
        }
        headers[.contentType] = "application/json"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: translated.serialized())))
    }

    /// The upstream refused the request itself (a 4xx other than 429 and the router-refusal
    /// codes). An OpenAI error for an OpenAI client is relayed as is; anything else is
    /// re-expressed in the client's format with the provider's message.
    private func relayRefusal(
        _ response: HTTPClientResponse,
        attempt: AttemptPlan.Attempt,
        decision: DecisionHeaders,
        deadline: ContinuousClock.Instant
    ) async -> Response {
        let status = Int(response.status.code)
        let body = try? await withDeadline(deadline) { try await response.body.collect(upTo: 1 << 20) }
        let json = body.flatMap { try? JSONValue(parsing: $0.readableBytesView) }
        if self.passesThrough(attempt), let body, case .object = json?["error"] ?? .null {
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            decision.apply(to: &headers)
            return Response(status: .init(code: status), headers: headers, body: .init(byteBuffer: body))
        }
        let detail = json.flatMap(ProviderAdapter.errorMessage).map { ": \($0)" } ?? ""
        return ChatProxy.errorResponse(
            APIError(
                status: status,
                type: "invalid_request_error",
                code: "upstream_rejected",
                message: "The provider '\(attempt.provider.name)' rejected the request (HTTP \(status))\(detail)"
            ),
            format: self.format,
            decision: decision
        )
    }
}

/// Embedding inputs, for the token estimate of providers that report none.
enum EmbeddingsInput {
    /// An upper bound of the input's tokens: a token is at least one byte of text, and an input
    /// given as token ids has one token per id.
    static func tokenUpperBound(_ body: [String: JSONValue]) -> Int {
        func count(_ value: JSONValue) -> Int {
            switch value {
            case .string(let text): text.utf8.count
            case .int: 1
            case .array(let items): items.reduce(0) { $0 + count($1) }
            default: 0
            }
        }
        return count(body["input"] ?? .null) + 8
    }

    static func byteCount(_ body: [String: JSONValue]) -> Int {
        switch body["input"] ?? .null {
        case .string(let text): text.utf8.count
        case .array(let items): items.reduce(0) { $0 + ($1.stringValue?.utf8.count ?? 0) }
        default: 0
        }
    }
}
