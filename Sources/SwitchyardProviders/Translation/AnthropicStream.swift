public import SwitchyardCore

extension AnthropicOutbound {
    /// Anthropic streaming events → OpenAI `chat.completion.chunk` objects, one event at a time.
    ///
    /// Text deltas become `delta.content`; each tool_use block becomes one entry of
    /// `delta.tool_calls` whose `index` counts tool calls (not content blocks), and its
    /// `input_json_delta` fragments are relayed in order as `function.arguments` pieces.
    /// Thinking blocks and their deltas are not relayed. `message_stop` yields OpenAI's final
    /// usage-only chunk.
    public struct StreamDecoder: Sendable {
        private let model: String
        private let created: Int64
        private var id = "chatcmpl-"
        private var started = false
        private var finished = false
        private var promptTokens: Int64 = 0
        private var cachedTokens: Int64 = 0
        private var completionTokens: Int64 = 0
        private var toolCallCount: Int64 = 0
        /// Content block index → tool call index.
        private var toolCallForBlock: [Int64: Int64] = [:]

        /// `model` is the name to report in every chunk; `created` the Unix time to stamp.
        public init(model: String, created: Int64) {
            self.model = model
            self.created = created
        }

        /// True after `message_stop`.
        public var isFinished: Bool { self.finished }

        /// Token counts so far: input from `message_start`, output from the latest `message_delta`.
        public var usage: Usage? {
            guard self.started else { return nil }
            return Usage(promptTokens: Int(self.promptTokens), completionTokens: Int(self.completionTokens))
        }

        /// Feeds one SSE event and returns the chunks it produces (often none). An `error` event
        /// throws with the upstream's message.
        public mutating func decode(_ event: SSEEvent) throws(TranslationError) -> [JSONValue] {
            if event.data.isEmpty || event.isDone { return [] }
            guard let payload = try? JSONValue(parsing: event.data.utf8), case .object = payload else {
                throw TranslationError("The Anthropic stream sent an event whose data is not a JSON object.")
            }
            switch payload["type"]?.stringValue ?? event.event ?? "" {
            case "message_start":
                let message = payload["message"]
                if let id = message?["id"]?.stringValue { self.id = "chatcmpl-" + id }
                self.absorb(usage: message?["usage"])
                self.started = true
                return [self.chunk(delta: ["role": "assistant", "content": ""])]
            case "content_block_start":
                return self.blockStart(payload)
            case "content_block_delta":
                return self.blockDelta(payload)
            case "message_delta":
                self.absorb(usage: payload["usage"])
                let reason = AnthropicWire.finishReason(payload["delta"]?["stop_reason"]?.stringValue)
                return [self.chunk(delta: .object([:]), finishReason: .string(reason))]
            case "message_stop":
                guard !self.finished else { return [] }
                self.finished = true
                return [self.usageChunk()]
            case "error":
                let message = payload["error"]?["message"]?.stringValue ?? "The Anthropic stream reported an error."
                throw TranslationError(message)
            default:
                // ping, content_block_stop, and event types added after this was written.
                return []
            }
        }

        private mutating func blockStart(_ payload: JSONValue) -> [JSONValue] {
            guard let block = payload["content_block"] else { return [] }
            switch block["type"]?.stringValue ?? "" {
            case "text":
                guard let text = block["text"]?.stringValue, !text.isEmpty else { return [] }
                return [self.chunk(delta: ["content": .string(text)])]
            case "tool_use":
                let toolIndex = self.toolCallCount
                self.toolCallCount += 1
                if let blockIndex = payload["index"]?.intValue { self.toolCallForBlock[blockIndex] = toolIndex }
                let function: JSONValue = ["name": .string(block["name"]?.stringValue ?? ""), "arguments": ""]
                let call: JSONValue = [
                    "index": .int(toolIndex),
                    "id": .string(block["id"]?.stringValue ?? ""),
                    "type": "function",
                    "function": function,
                ]
                return [self.chunk(delta: ["tool_calls": .array([call])])]
            default:
                return []
            }
        }

        private func blockDelta(_ payload: JSONValue) -> [JSONValue] {
            guard let delta = payload["delta"] else { return [] }
            switch delta["type"]?.stringValue ?? "" {
            case "text_delta":
                guard let text = delta["text"]?.stringValue, !text.isEmpty else { return [] }
                return [self.chunk(delta: ["content": .string(text)])]
            case "input_json_delta":
                guard let fragment = delta["partial_json"]?.stringValue, !fragment.isEmpty,
                    let blockIndex = payload["index"]?.intValue, let toolIndex = self.toolCallForBlock[blockIndex]
                else { return [] }
                let call: JSONValue = ["index": .int(toolIndex), "function": ["arguments": .string(fragment)]]
                return [self.chunk(delta: ["tool_calls": .array([call])])]
            default:
                // thinking_delta, signature_delta, citations_delta
                return []
            }
        }

        /// Usage counts are cumulative in every event that carries them.
        private mutating func absorb(usage: JSONValue?) {
            guard let usage, case .object = usage else { return }
            if let input = usage["input_tokens"], !input.isNull {
                let cacheRead = AnthropicWire.count(usage["cache_read_input_tokens"])
                self.promptTokens = AnthropicWire.count(input) + AnthropicWire.count(usage["cache_creation_input_tokens"]) + cacheRead
                self.cachedTokens = cacheRead
            }
            if let output = usage["output_tokens"], !output.isNull {
                self.completionTokens = AnthropicWire.count(output)
            }
        }

        private func chunk(delta: JSONValue, finishReason: JSONValue = .null) -> JSONValue {
            let choice: JSONValue = ["index": 0, "delta": delta, "finish_reason": finishReason]
            let chunk: [String: JSONValue] = [
                "id": .string(self.id),
                "object": "chat.completion.chunk",
                "created": .int(self.created),
                "model": .string(self.model),
                "choices": .array([choice]),
            ]
            return .object(chunk)
        }

        private func usageChunk() -> JSONValue {
            var usage: [String: JSONValue] = [
                "prompt_tokens": .int(self.promptTokens),
                "completion_tokens": .int(self.completionTokens),
                "total_tokens": .int(self.promptTokens + self.completionTokens),
            ]
            if self.cachedTokens > 0 { usage["prompt_tokens_details"] = ["cached_tokens": .int(self.cachedTokens)] }
            let chunk: [String: JSONValue] = [
                "id": .string(self.id),
                "object": "chat.completion.chunk",
                "created": .int(self.created),
                "model": .string(self.model),
                "choices": .array([]),
                "usage": .object(usage),
            ]
            return .object(chunk)
        }
    }
}

extension AnthropicInbound {
    /// OpenAI `chat.completion.chunk`s → Anthropic SSE events, for a client of `/v1/messages`.
    ///
    /// Each returned element is one whole event (`event: X\ndata: {...}\n\n`). Content blocks are
    /// numbered in the order they open; a new block closes the previous one, as Anthropic streams
    /// never interleave blocks. (An OpenAI upstream that went back to an earlier tool call after
    /// starting another would get its late fragments sent to the earlier, already closed block.)
    public struct StreamEncoder: Sendable {
        private enum OpenBlock: Sendable, Equatable {
            case text(Int64)
            case tool(Int64)

            var index: Int64 {
                switch self {
                case .text(let index), .tool(let index): index
                }
            }
        }

        private let model: String
        private let messageID: String
        private var started = false
        private var finished = false
        private var nextIndex: Int64 = 0
        private var openBlock: OpenBlock?
        /// OpenAI tool call index → Anthropic content block index.
        private var toolBlocks: [Int64: Int64] = [:]
        private var stopReason: String?
        private var inputTokens: Int64 = 0
        private var outputTokens: Int64 = 0

        /// `model` is the name to report (the client's alias); `messageID` the `msg_…` id.
        public init(model: String, messageID: String) {
            self.model = model
            self.messageID = messageID
        }

        /// The events for one OpenAI chunk. The first call starts with `message_start`.
        public mutating func encode(_ chunk: JSONValue) -> [[UInt8]] {
            guard !self.finished else { return [] }
            var events: [[UInt8]] = []
            if let usage = chunk["usage"], case .object = usage {
                self.inputTokens = AnthropicWire.count(usage["prompt_tokens"])
                self.outputTokens = AnthropicWire.count(usage["completion_tokens"])
            }
            if !self.started { events.append(self.messageStart()) }
            guard let choice = chunk["choices"]?[0] else { return events }
            let delta = choice["delta"]
            if let text = delta?["content"]?.stringValue, !text.isEmpty { self.appendText(text, to: &events) }
            if let refusal = delta?["refusal"]?.stringValue, !refusal.isEmpty { self.appendText(refusal, to: &events) }
            if let calls = delta?["tool_calls"]?.arrayValue {
                for (position, call) in calls.enumerated() {
                    self.appendToolCall(call, position: Int64(position), to: &events)
                }
            }
            if let reason = choice["finish_reason"]?.stringValue { self.stopReason = AnthropicWire.stopReason(reason) }
            return events
        }

        /// Closes the open block, then `message_delta` (stop reason, usage) and `message_stop`.
        /// Later calls return nothing.
        public mutating func finish() -> [[UInt8]] {
            guard !self.finished else { return [] }
            var events: [[UInt8]] = []
            if !self.started { events.append(self.messageStart()) }
            self.closeBlock(into: &events)
            self.finished = true
            var reason = self.stopReason ?? "end_turn"
            // Some OpenAI-compatible servers finish tool calls with "stop".
            if reason == "end_turn", !self.toolBlocks.isEmpty { reason = "tool_use" }
            let delta: JSONValue = ["stop_reason": .string(reason), "stop_sequence": .null]
            let usage: JSONValue = ["input_tokens": .int(self.inputTokens), "output_tokens": .int(self.outputTokens)]
            events.append(AnthropicWire.event("message_delta", ["type": "message_delta", "delta": delta, "usage": usage]))
            events.append(AnthropicWire.event("message_stop", ["type": "message_stop"]))
            return events
        }

        /// An in-band error event: `event: error\ndata: {"type":"error","error":{"type":…,"message":…}}\n\n`.
        public static func errorEvent(type: String, message: String) -> [UInt8] {
            let error: JSONValue = ["type": .string(type), "message": .string(message)]
            return AnthropicWire.event("error", ["type": "error", "error": error])
        }

        private mutating func messageStart() -> [UInt8] {
            self.started = true
            let usage: JSONValue = ["input_tokens": .int(self.inputTokens), "output_tokens": 0]
            let message: [String: JSONValue] = [
                "id": .string(self.messageID),
                "type": "message",
                "role": "assistant",
                "model": .string(self.model),
                "content": .array([]),
                "stop_reason": .null,
                "stop_sequence": .null,
                "usage": usage,
            ]
            return AnthropicWire.event("message_start", ["type": "message_start", "message": .object(message)])
        }

        private mutating func appendText(_ text: String, to events: inout [[UInt8]]) {
            let index: Int64
            if case .text(let current)? = self.openBlock {
                index = current
            } else {
                self.closeBlock(into: &events)
                index = self.nextIndex
                self.nextIndex += 1
                self.openBlock = .text(index)
                let block: JSONValue = ["type": "text", "text": ""]
                events.append(
                    AnthropicWire.event("content_block_start", ["type": "content_block_start", "index": .int(index), "content_block": block])
                )
            }
            let delta: JSONValue = ["type": "text_delta", "text": .string(text)]
            events.append(AnthropicWire.event("content_block_delta", ["type": "content_block_delta", "index": .int(index), "delta": delta]))
        }

        private mutating func appendToolCall(_ call: JSONValue, position: Int64, to events: inout [[UInt8]]) {
            let toolIndex = call["index"]?.intValue ?? position
            let index: Int64
            if let known = self.toolBlocks[toolIndex] {
                index = known
            } else {
                self.closeBlock(into: &events)
                index = self.nextIndex
                self.nextIndex += 1
                self.toolBlocks[toolIndex] = index
                self.openBlock = .tool(index)
                let id = call["id"]?.stringValue ?? "toolu_\(self.messageID)_\(toolIndex)"
                let block: JSONValue = [
                    "type": "tool_use",
                    "id": .string(id),
                    "name": .string(call["function"]?["name"]?.stringValue ?? ""),
                    "input": .object([:]),
                ]
                events.append(
                    AnthropicWire.event("content_block_start", ["type": "content_block_start", "index": .int(index), "content_block": block])
                )
            }
            if let fragment = call["function"]?["arguments"]?.stringValue, !fragment.isEmpty {
                let delta: JSONValue = ["type": "input_json_delta", "partial_json": .string(fragment)]
                events.append(AnthropicWire.event("content_block_delta", ["type": "content_block_delta", "index": .int(index), "delta": delta]))
            }
        }

        private mutating func closeBlock(into events: inout [[UInt8]]) {
            guard let current = self.openBlock else { return }
            events.append(AnthropicWire.event("content_block_stop", ["type": "content_block_stop", "index": .int(current.index)]))
            self.openBlock = nil
        }
    }
}
