public import SwitchyardCore

extension GeminiOutbound {
    /// Gemini `streamGenerateContent?alt=sse` events → OpenAI `chat.completion.chunk`s.
    ///
    /// Each event's data is a whole `GenerateContentResponse` holding the next piece of the first
    /// candidate. Text becomes `delta.content`; every `functionCall` part becomes one `tool_calls`
    /// delta with the complete arguments (Gemini does not split calls). The first chunk carries
    /// `delta.role`. `usageMetadata` is remembered, the latest wins, and `finish()` emits it.
    public struct StreamDecoder: Sendable {
        private let model: String
        private let id: String
        private let created: Int64
        private var sentRole = false
        private var toolCallCount = 0
        private var sentFinishReason = false
        private var usageJSON: JSONValue?

        /// The latest usage the stream reported, if any.
        public private(set) var usage: Usage?

        /// `model`, `id` and `created` go into every chunk, as a chat-completions stream repeats them.
        public init(model: String, id: String, created: Int64) {
            self.model = model
            self.id = id
            self.created = created
        }

        /// Whether a chunk with a `finish_reason` was produced: without one the stream was cut short.
        public var sawFinishReason: Bool { self.sentFinishReason }

        /// The chunks for one upstream event (possibly none).
        public mutating func decode(_ event: SSEEvent) throws(TranslationError) -> [JSONValue] {
            if event.isDone || event.data.allSatisfy(\.isWhitespace) { return [] }
            let json: JSONValue
            do {
                json = try JSONValue(parsing: Array(event.data.utf8))
            } catch {
                throw TranslationError("Gemini sent a stream event that is not JSON (\(error)).")
            }
            guard case .object = json else {
                throw TranslationError("Gemini sent a stream event that is not a JSON object.")
            }
            if let error = json["error"], !error.isNull {
                let status = error["status"]?.stringValue ?? "unknown status"
                throw TranslationError("Gemini reported an error in the stream (\(status)).")
            }
            if let report = GeminiOutbound.usage(json["usageMetadata"]) {
                self.usageJSON = report.json
                self.usage = report.usage
            }

            var chunks: [JSONValue] = []
            guard let candidate = json["candidates"]?[0] else {
                if let blockReason = json["promptFeedback"]?["blockReason"], !blockReason.isNull, !self.sentFinishReason {
                    self.sentFinishReason = true
                    chunks.append(self.chunk(delta: [:], finishReason: "content_filter"))
                }
                return chunks
            }
            let output = try GeminiOutbound.CandidateOutput(candidate)
            if !output.text.isEmpty {
                chunks.append(self.chunk(delta: ["content": .string(output.text)], finishReason: nil))
            }
            for call in output.calls {
                let index = self.toolCallCount
                self.toolCallCount += 1
                let toolCall = GeminiOutbound.toolCall(call, index: index, completionID: self.id, streamIndex: index)
                chunks.append(self.chunk(delta: ["tool_calls": .array([toolCall])], finishReason: nil))
            }
            if let reason = candidate["finishReason"]?.stringValue, !self.sentFinishReason {
                self.sentFinishReason = true
                let finishReason = GeminiOutbound.finishReason(reason, hasToolCalls: self.toolCallCount > 0)
                chunks.append(self.chunk(delta: [:], finishReason: finishReason))
            }
            return chunks
        }

        /// After the upstream stream ended: the usage-only chunk (`choices: []`) when usage was
        /// reported, else nothing. Emitted once.
        public mutating func finish() -> [JSONValue] {
            guard let usageJSON = self.usageJSON else { return [] }
            self.usageJSON = nil
            return [
                .object([
                    "id": .string(self.id),
                    "object": .string("chat.completion.chunk"),
                    "created": .int(self.created),
                    "model": .string(self.model),
                    "choices": .array([]),
                    "usage": usageJSON,
                ])
            ]
        }

        private mutating func chunk(delta: [String: JSONValue], finishReason: String?) -> JSONValue {
            var delta = delta
            if !self.sentRole {
                self.sentRole = true
                delta["role"] = .string("assistant")
            }
            let choice: JSONValue = .object([
                "index": .int(0),
                "delta": .object(delta),
                "finish_reason": finishReason.map(JSONValue.string) ?? .null,
                "logprobs": .null,
            ])
            return .object([
                "id": .string(self.id),
                "object": .string("chat.completion.chunk"),
                "created": .int(self.created),
                "model": .string(self.model),
                "choices": .array([choice]),
            ])
        }
    }
}
