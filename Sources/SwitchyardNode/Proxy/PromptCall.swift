import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SwitchyardCore
import SwitchyardProviders

/// An answer that fails the prompt's response schema (thrown by the relay, turned into an
/// ``Executor/Outcome/invalidOutput(text:errors:)`` by the call).
struct InvalidOutput: Error {
    var text: String
    var errors: [String]
}

/// Rendering a prompt version into an attempt's request, and checking the answer against it.
extension Executor {
    /// The upstream body for `attempt` with its prompt rendered: the variant for the attempt's
    /// model, the variables (checked up front for the first attempt's version, here for a
    /// fallback that pins another), the response schema as `response_format`, and, for a repair
    /// retry, the rejected answer and what was wrong with it.
    func render(
        _ prompt: ResolvedPrompt,
        chat: ChatRequest,
        attempt: AttemptPlan.Attempt,
        body: [String: JSONValue],
        repair: Repair?
    ) throws(TranslationError) -> [String: JSONValue] {
        let spec = prompt.spec
        let kind = attempt.provider.kind
        guard let variant = spec.variant(forModel: attempt.model.name) else {
            throw TranslationError("prompt '\(prompt.label)' has no variant for model '\(attempt.model.name)'")
        }
        let schema = spec.responseSchema(for: variant)
        if chat.stream, let refusal = prompt.streamRefusal(model: attempt.model.name, kind: kind) { throw TranslationError(refusal) }
        var rendered: [String: JSONValue]
        do {
            let values =
                prompt.label == self.plan.attempts.first?.prompt?.label
                ? self.promptValues : try spec.resolveVariables(chat.promptVariables, prompt: prompt.label)
            rendered = try spec.apply(variant: variant, values: values, to: body, providerKind: kind, promptLabel: prompt.label)
        } catch {
            throw TranslationError(error.message)
        }
        if let schema, rendered["response_format"] == nil {
            rendered["response_format"] = [
                "type": "json_schema",
                "json_schema": ["name": "response", "schema": schema.json, "strict": false],
            ]
        }
        if let repair {
            var messages = rendered["messages"]?.arrayValue ?? []
            messages.append(["role": "assistant", "content": .string(repair.output)])
            messages.append([
                "role": "user",
                "content": .string(
                    "Your previous answer does not match the required JSON Schema: "
                        + repair.errors.prefix(5).joined(separator: "; ")
                        + ". Answer again with only a JSON value that matches the schema, without any other text."
                ),
            ])
            rendered["messages"] = .array(messages)
        }
        return rendered
    }

    /// A complete answer to a prompted request: tool calls mapped back to the prompt's names,
    /// the output checked against the response schema, then written in the client's format.
    func relayPrompted(
        _ json: JSONValue?,
        prompt: ResolvedPrompt,
        attempt: AttemptPlan.Attempt,
        status: Int,
        headers: HTTPFields
    ) throws -> Response {
        guard let json else { throw AttemptFailure.interrupted("the provider's answer is not JSON") }
        var canonical: JSONValue
        if attempt.provider.kind.speaksOpenAI {
            canonical = json
        } else {
            do {
                canonical = try ProviderAdapter.canonicalCompletion(
                    kind: attempt.provider.kind,
                    json,
                    model: attempt.model.upstreamModel,
                    id: "chatcmpl-" + self.traceID
                )
            } catch {
                throw AttemptFailure.interrupted("the provider's answer does not translate: \(TranslationError.describe(error))")
            }
        }
        canonical = prompt.spec.canonicalizeToolCalls(in: canonical, providerKind: attempt.provider.kind)
        let usage = Usage(completion: canonical)
        if let usage { self.proxy.metrics.tokens(route: self.plan.label, model: attempt.model.name, usage: usage) }
        if let variant = prompt.spec.variant(forModel: attempt.model.name), let schema = prompt.spec.responseSchema(for: variant),
            !Self.callsTools(canonical)
        {
            let text = outputText(ofCompletion: canonical) ?? ""
            let errors = schema.validate(text: text)
            if !errors.isEmpty { throw InvalidOutput(text: text, errors: errors) }
        }
        self.settlement?.answered(by: attempt.model, usage: usage)
        var headers = headers
        headers[.contentType] = "application/json"
        let body = self.format.completionBody(canonical, alias: self.alias)
        return Response(status: .init(code: status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body.serialized())))
    }

    /// Whether the answer asks the client to run tools (then there is no final output to check yet).
    static func callsTools(_ completion: JSONValue) -> Bool {
        completion["choices"]?.arrayValue?.contains { choice in
            !(choice["message"]?["tool_calls"]?.arrayValue?.isEmpty ?? true)
        } ?? false
    }
}
