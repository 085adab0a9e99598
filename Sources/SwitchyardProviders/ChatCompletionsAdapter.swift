public import AsyncHTTPClient
import Foundation
public import Logging
public import NIOCore
import NIOFoundationCompat
import NIOHTTP1
public import SwitchyardCore

/// Sends chat completions to providers that speak OpenAI's wire format (OpenAI itself, vLLM,
/// Ollama, any OpenAI-compatible server) and classifies failures for the fallback logic.
public struct ChatCompletionsAdapter: Sendable {
    public let client: HTTPClient

    public init(client: HTTPClient) {
        self.client = client
    }

    /// The upstream request for one attempt.
    public func makeRequest(
        provider: ProviderConfig,
        credential: ProviderCredential?,
        body: ByteBuffer,
        stream: Bool
    ) throws(AttemptFailure) -> HTTPClientRequest {
        guard provider.kind.speaksOpenAI else {
            throw .unsupported("provider kind '\(provider.kind.rawValue)' is not served by this node version")
        }
        var base = provider.baseURL
        while base.hasSuffix("/") { base.removeLast() }
        var request = HTTPClientRequest(url: base + "/chat/completions")
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        request.headers.add(name: "accept", value: stream ? "text/event-stream" : "application/json")
        if let key = credential?.key, !key.isEmpty {
            request.headers.add(name: "authorization", value: "Bearer \(key)")
        }
        request.body = .bytes(body)
        return request
    }

    /// Sends `request` and waits for the response head until `deadline`.
    public func send(_ request: HTTPClientRequest, deadline: NIODeadline, logger: Logger) async throws(AttemptFailure) -> HTTPClientResponse {
        do {
            return try await self.client.execute(request, deadline: deadline, logger: logger)
        } catch {
            throw Self.classify(error)
        }
    }

    /// Maps a transport error to an attempt failure.
    public static func classify(_ error: any Error) -> AttemptFailure {
        if let failure = error as? AttemptFailure { return failure }
        if error is CancellationError { return .timeout("cancelled") }
        if let clientError = error as? HTTPClientError {
            switch clientError {
            case .deadlineExceeded, .readTimeout, .connectTimeout, .writeTimeout:
                return .timeout(String(describing: clientError))
            case .remoteConnectionClosed, .cancelled:
                return .interrupted(String(describing: clientError))
            default:
                return .connect(String(describing: clientError))
            }
        }
        return .connect(String(describing: error))
    }
}
