import SwitchyardCore
import SwitchyardProviders

/// The wire format a client spoke to the node: OpenAI (`/v1/chat/completions`,
/// `/v1/embeddings`) or Anthropic (`/v1/messages`). Answers and errors go back in the same format,
/// whatever format the provider that served them speaks.
enum ClientFormat: Sendable, Hashable {
    case openai
    case anthropic

    func errorBody(_ error: APIError) -> JSONValue {
        switch self {
        case .openai: error.json
        case .anthropic: AnthropicInbound.errorBody(error)
        }
    }

    /// A complete answer, from the canonical (OpenAI) completion. `alias` is the model the
    /// client asked for (Anthropic answers name it).
    func completionBody(_ canonical: JSONValue, alias: String) -> JSONValue {
        switch self {
        case .openai: canonical
        case .anthropic: AnthropicInbound.response(canonical, model: alias)
        }
    }
}

/// Writes canonical chunks as the client's server-sent events.
struct ClientStreamEncoder {
    enum State {
        case openai(includeUsage: Bool)
        case anthropic(AnthropicInbound.StreamEncoder)
    }

    var state: State

    init(format: ClientFormat, includeUsage: Bool, alias: String, messageID: String) {
        switch format {
        case .openai: self.state = .openai(includeUsage: includeUsage)
        case .anthropic: self.state = .anthropic(.init(model: alias, messageID: messageID))
        }
    }

    mutating func encode(_ chunk: JSONValue) -> [[UInt8]] {
        switch self.state {
        case .openai(let includeUsage):
            // The node always asks upstream for usage; the usage-only chunk goes to clients that asked.
            if chunk.isUsageOnlyChunk, !includeUsage { return [] }
            return [Array("data: ".utf8) + chunk.serialized() + Array("\n\n".utf8)]
        case .anthropic(var encoder):
            defer { self.state = .anthropic(encoder) }
            return encoder.encode(chunk)
        }
    }

    /// The end of a complete answer.
    mutating func finish() -> [[UInt8]] {
        switch self.state {
        case .openai: return [Array("data: [DONE]\n\n".utf8)]
        case .anthropic(var encoder):
            defer { self.state = .anthropic(encoder) }
            return encoder.finish()
        }
    }

    /// The in-band error that ends a stream that failed after bytes reached the client.
    func errorEvent(_ message: String) -> [UInt8] {
        switch self.state {
        case .openai: SSERelay.errorEvent(message)
        case .anthropic: AnthropicInbound.StreamEncoder.errorEvent(type: "api_error", message: message)
        }
    }
}
