import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SwitchyardCore

/// Gemini's `generateContent` / `streamGenerateContent`, answered like the OpenAI mock: the same
/// deterministic text, the same tool-call trigger (function declarations offered, calling mode
/// not `NONE`, last turn not a function response), the same word counts as usage, the same
/// per-token latency and the same faults, with Google's error envelope.
///
/// The model and the method share the last path segment, `models/{model}:{method}`; the model
/// part may carry the mock's `:`-separated directives (`fault-500:gemini-pro:generateContent`),
/// the method is what follows the last `:`. Requires an API key in `x-goog-api-key` (or the
/// `key` query parameter), else `401 UNAUTHENTICATED`.
enum MockGemini {
    static let apiKeyHeader = HTTPField.Name("x-goog-api-key")!

    /// `POST …/models/{model}:{method}`: generation, or the embedding methods of ``MockEmbeddings``.
    static func dispatch(_ request: Request, context: MockRequestContext, defaultLatencyMs: Int, stats: MockStats) async throws -> Response {
        let raw = try context.parameters.require("target")
        let target = raw.removingPercentEncoding ?? raw
        guard let colon = target.lastIndex(of: ":") else {
            stats.record(.gemini, model: target)
            return MockDialect.gemini.error(.notFound, message: "mock: expected models/{model}:{method}, got models/\(target)")
        }
        let model = String(target[..<colon])
        let method = String(target[target.index(after: colon)...])
        let latencyMs = defaultLatencyMs
        switch method {
        case "generateContent", "streamGenerateContent":
            let streaming = method == "streamGenerateContent"
            return try await Self.generate(request, context: context, model: model, streaming: streaming, defaultLatencyMs: latencyMs, stats: stats)
        case "embedContent", "batchEmbedContents":
            let batch = method == "batchEmbedContents"
            return try await MockEmbeddings.gemini(request, context: context, model: model, batch: batch, defaultLatencyMs: latencyMs, stats: stats)
        default:
            stats.record(.gemini, model: model)
            return MockDialect.gemini.error(.notFound, message: "mock: method \(method) is not supported")
        }
    }

    /// The API key of a Gemini request: the `x-goog-api-key` header, else the `key` query parameter.
    static func apiKey(_ request: Request) -> String? {
        if let key = request.headers[Self.apiKeyHeader], !key.isEmpty { return key }
        if let key = request.uri.queryParameters.get("key"), !key.isEmpty { return key }
        return nil
    }

    /// `:generateContent`, or `:streamGenerateContent` (SSE with `?alt=sse`, else a JSON array
    /// written piece by piece, as Google does).
    static func generate(
        _ request: Request,
        context: MockRequestContext,
        model: String,
        streaming: Bool,
        defaultLatencyMs: Int,
        stats: MockStats
    ) async throws -> Response {
        var request = request
        let buffer = try await request.collectBody(upTo: 16 << 20)
        let number = stats.record(.gemini, model: model)
        let dialect = MockDialect.gemini

        guard let apiKey = Self.apiKey(request) else {
            return dialect.error(.unauthenticated, message: "mock: API key missing; pass it in x-goog-api-key")
        }
        guard let body = try? JSONValue(parsing: buffer.readableBytesView), case .object = body else {
            return dialect.error(.badRequest, message: "mock: body must be a JSON object")
        }
        guard let contents = body["contents"]?.arrayValue, !contents.isEmpty else {
            return dialect.error(.badRequest, message: "* GenerateContentRequest.contents: contents is not specified")
        }

        let behaviour = MockBehaviour(model: model, headers: request.headers, defaultLatencyMs: defaultLatencyMs)
        if let response = try await dialect.respond(to: behaviour, body: request.body, context: context, credential: apiKey) {
            return response
        }

        let last = contents[contents.count - 1]
        let lastText = Self.text(of: last)
        let systemWords = MockCompletion.words(in: Self.text(of: body["systemInstruction"] ?? body["system_instruction"] ?? JSONValue.null)).count
        var completion = MockCompletion(
            promptTokens: contents.reduce(systemWords) { $0 + MockCompletion.words(in: Self.text(of: $1)).count },
            lastText: lastText,
            lastIsToolResult: Self.hasFunctionResponse(last),
            tool: Self.chosenTool(body)
        )
        completion.apply(
            behaviour.reply,
            body: body,
            lastText: lastText,
            firstUserText: contents.first { ($0["role"]?.stringValue ?? "user") == "user" }.map(Self.text(of:)) ?? "",
            repairing: contents.contains { $0["role"] == "model" }
        )
        if completion.toolCall == nil, lastText == "__echo_auth__" {
            completion.tokens = [apiKey]
        }
        let responseID = "mock-\(number)"
        let latency = Duration.milliseconds(behaviour.tokenLatencyMs)
        let cut = behaviour.fault == .cut
        if streaming {
            let chunks = Self.streamChunks(completion, model: model, responseID: responseID)
            let stream: MockStream
            if request.uri.queryParameters.get("alt") == "sse" {
                stream = MockStream(
                    frames: chunks.map { "data: " + MockProvider.encode($0) + "\n\n" },
                    tokenFrames: 0..<chunks.count,
                    cutBefore: cut ? 2 : nil
                )
            } else {
                let pieces = chunks.enumerated().map { ($0.offset == 0 ? "[" : ",\r\n") + MockProvider.encode($0.element) }
                stream = MockStream(frames: pieces + ["]"], tokenFrames: 0..<chunks.count, cutBefore: cut ? 2 : nil, contentType: "application/json")
            }
            return stream.response(latency: latency, channel: context.channel)
        }
        if latency > .zero { try await Task.sleep(for: latency * completion.tokens.count) }
        let parts: JSONValue
        if let call = completion.toolCall {
            parts = [["functionCall": ["name": .string(call.name), "args": completion.toolArguments]]]
        } else {
            parts = [["text": .string(completion.text)]]
        }
        let answer = Self.response(parts: parts, finished: true, usage: Self.usage(completion), model: model, responseID: responseID)
        return MockProvider.jsonBody(answer, cut: cut, channel: context.channel)
    }

    /// One `GenerateContentResponse`.
    static func response(parts: JSONValue, finished: Bool, usage: JSONValue?, model: String, responseID: String) -> JSONValue {
        var candidate: [String: JSONValue] = ["content": ["role": "model", "parts": parts], "index": 0]
        if finished { candidate["finishReason"] = "STOP" }
        var response: [String: JSONValue] = [
            "candidates": [.object(candidate)], "modelVersion": .string(model), "responseId": .string(responseID),
        ]
        if let usage { response["usageMetadata"] = usage }
        return .object(response)
    }

    static func usage(_ completion: MockCompletion) -> JSONValue {
        [
            "promptTokenCount": .int(Int64(completion.promptTokens)), "candidatesTokenCount": .int(Int64(completion.completionTokens)),
            "totalTokenCount": .int(Int64(completion.promptTokens + completion.completionTokens)),
        ]
    }

    /// The streamed responses: one per token, the last with `finishReason` and `usageMetadata`.
    /// A function call is not split: one response carries it whole.
    static func streamChunks(_ completion: MockCompletion, model: String, responseID: String) -> [JSONValue] {
        if let call = completion.toolCall {
            let parts: JSONValue = [["functionCall": ["name": .string(call.name), "args": completion.toolArguments]]]
            return [Self.response(parts: parts, finished: true, usage: Self.usage(completion), model: model, responseID: responseID)]
        }
        let count = completion.tokens.count
        return completion.tokens.enumerated().map { index, token in
            let last = index == count - 1
            return Self.response(
                parts: [["text": .string(token)]],
                finished: last,
                usage: last ? Self.usage(completion) : nil,
                model: model,
                responseID: responseID
            )
        }
    }

    /// The text of a `Content` (`{"role", "parts": [...]}`): its text parts and function
    /// responses, joined with spaces. A function response counts as the string under its
    /// `content`, `result` or `output` key, else as its JSON.
    static func text(of content: JSONValue) -> String {
        if case .string(let text) = content { return text }
        let parts = content["parts"]?.arrayValue ?? []
        return parts.compactMap { part -> String? in
            if let text = part["text"]?.stringValue { return text }
            if let response = part["functionResponse"]?["response"] { return Self.resultText(response) }
            return nil
        }
        .joined(separator: " ")
    }

    static func resultText(_ response: JSONValue) -> String {
        if case .string(let text) = response { return text }
        for key in ["content", "result", "output"] {
            if let text = response[key]?.stringValue { return text }
        }
        return MockProvider.encode(response)
    }

    static func hasFunctionResponse(_ content: JSONValue) -> Bool {
        content["parts"]?.arrayValue?.contains { $0["functionResponse"] != nil } ?? false
    }

    /// The function to call: none without declarations or with `functionCallingConfig.mode`
    /// `NONE`; the first of `allowedFunctionNames` if given; else the first declared.
    static func chosenTool(_ body: JSONValue) -> (name: String, parameters: JSONValue?)? {
        let tools = body["tools"]?.arrayValue ?? []
        let declarations = tools.flatMap { tool -> [JSONValue] in
            tool["functionDeclarations"]?.arrayValue ?? tool["function_declarations"]?.arrayValue ?? []
        }
        let functions = declarations.compactMap { declaration -> (name: String, parameters: JSONValue?)? in
            guard let name = declaration["name"]?.stringValue else { return nil }
            return (name: name, parameters: declaration["parameters"] ?? declaration["parametersJsonSchema"])
        }
        guard !functions.isEmpty else { return nil }
        let config = body["toolConfig"]?["functionCallingConfig"]
        if config?["mode"]?.stringValue?.uppercased() == "NONE" { return nil }
        if let allowed = config?["allowedFunctionNames"]?.arrayValue?.compactMap(\.stringValue), !allowed.isEmpty {
            return functions.first { allowed.contains($0.name) }
        }
        return functions.first
    }
}
