public import SwitchyardCore

/// Translation between OpenAI chat completions (the router's canonical format) and Google Gemini's
/// REST API (v1beta): `generateContent`, `streamGenerateContent?alt=sse` and `batchEmbedContents`.
///
/// Pure functions, no I/O. The caller prefixes the paths with the provider's base URL (e.g.
/// `https://generativelanguage.googleapis.com/v1beta`) and sends the API key itself.
public enum GeminiOutbound {
    /// The URL path for a model: `/models/{model}:generateContent`, or
    /// `/models/{model}:streamGenerateContent?alt=sse` when streaming.
    public static func path(upstreamModel: String, stream: Bool) -> String {
        let model = Self.bareModelName(upstreamModel)
        return stream ? "/models/\(model):streamGenerateContent?alt=sse" : "/models/\(model):generateContent"
    }

    /// OpenAI chat body → Gemini `generateContent` body.
    ///
    /// - system/developer messages → `systemInstruction`; user → role `user`; assistant → role `model`
    ///   (tool calls become `functionCall` parts); tool results → `functionResponse` parts in a user turn.
    ///   Consecutive turns of the same role are merged (Gemini wants user and model to alternate).
    /// - `tools` → `functionDeclarations` (the JSON Schema goes to `parametersJsonSchema`);
    ///   `tool_choice` → `toolConfig.functionCallingConfig`.
    /// - `temperature`, `top_p`, `max_completion_tokens`/`max_tokens`, `stop`, `n` (1 only), `seed`,
    ///   non-zero `presence_penalty`/`frequency_penalty` and `response_format` → `generationConfig`.
    ///
    /// Fields the router owns or Gemini has no use for (`model`, `stream`, `stream_options`, `user`,
    /// `metadata`, `parallel_tool_calls`, …) are dropped; requests Gemini cannot honour faithfully throw,
    /// naming the offending parameter.
    public static func request(chat: [String: JSONValue]) throws(TranslationError) -> JSONValue {
        guard let messagesValue = chat["messages"], !messagesValue.isNull else {
            throw TranslationError("Missing required parameter: 'messages'.", param: "messages")
        }
        guard let messages = messagesValue.arrayValue else {
            throw TranslationError("'messages' must be an array.", param: "messages")
        }
        try Self.rejectUnsupported(chat)

        var conversation = Conversation()
        for (index, message) in messages.enumerated() {
            try conversation.add(message, path: "messages[\(index)]")
        }
        guard !conversation.turns.isEmpty else {
            throw TranslationError("Gemini needs at least one user or assistant message with content.", param: "messages")
        }

        var body: [String: JSONValue] = ["contents": .array(conversation.turns.map(\.json))]
        if !conversation.system.isEmpty {
            body["systemInstruction"] = .object(["parts": .array(conversation.system)])
        }
        let declarations = try Self.functionDeclarations(chat["tools"])
        if !declarations.isEmpty {
            let tool: JSONValue = .object(["functionDeclarations": .array(declarations)])
            body["tools"] = .array([tool])
        }
        if let config = try Self.functionCallingConfig(chat["tool_choice"], declarations: declarations) {
            body["toolConfig"] = .object(["functionCallingConfig": config])
        }
        let generation = try Self.generationConfig(chat)
        if !generation.isEmpty {
            body["generationConfig"] = .object(generation)
        }
        return .object(body)
    }

    /// `gemini-2.5-flash` for both `gemini-2.5-flash` and `models/gemini-2.5-flash`.
    static func bareModelName(_ model: String) -> String {
        model.hasPrefix("models/") ? String(model.dropFirst("models/".count)) : model
    }
}

// MARK: - Messages

extension GeminiOutbound {
    /// The Gemini conversation being built from the OpenAI messages, in order.
    fileprivate struct Conversation {
        struct Turn {
            var role: String
            var parts: [JSONValue]

            var json: JSONValue { .object(["role": .string(self.role), "parts": .array(self.parts)]) }
        }

        /// `systemInstruction` parts.
        var system: [JSONValue] = []
        var turns: [Turn] = []
        /// Function names of the assistant's tool calls so far, by call id: an OpenAI tool result
        /// names its call by id, a Gemini `functionResponse` by function name.
        var functionNames: [String: String] = [:]

        mutating func add(_ message: JSONValue, path: String) throws(TranslationError) {
            guard case .object(let fields) = message else {
                throw TranslationError("Each message must be an object.", param: path)
            }
            guard let role = fields["role"]?.stringValue else {
                throw TranslationError("Each message needs a string 'role'.", param: path + ".role")
            }
            switch role {
            case "system", "developer":
                let texts = try GeminiOutbound.texts(fields["content"], path: path + ".content")
                for text in texts where !text.isEmpty {
                    self.system.append(.object(["text": .string(text)]))
                }
            case "user":
                let parts = try GeminiOutbound.userParts(fields["content"], path: path + ".content")
                self.append(role: "user", parts: parts)
            case "assistant":
                try self.addAssistant(fields, path: path)
            case "tool":
                guard let id = fields["tool_call_id"]?.stringValue else {
                    throw TranslationError("A tool message needs a string 'tool_call_id'.", param: path + ".tool_call_id")
                }
                guard let name = self.functionNames[id] else {
                    throw TranslationError(
                        "No earlier assistant tool call has the id '\(id)'; Gemini needs the function's name.",
                        param: path + ".tool_call_id"
                    )
                }
                let text = try GeminiOutbound.texts(fields["content"], path: path + ".content").joined()
                self.append(role: "user", parts: [GeminiOutbound.functionResponse(name: name, text: text)])
            default:
                throw TranslationError("Messages with role '\(role)' cannot be sent to Gemini.", param: path + ".role")
            }
        }

        private mutating func addAssistant(_ fields: [String: JSONValue], path: String) throws(TranslationError) {
            if let legacy = fields["function_call"], !legacy.isNull {
                throw TranslationError(
                    "The legacy 'function_call' is not supported for Gemini targets; use 'tool_calls'.",
                    param: path + ".function_call"
                )
            }
            var parts: [JSONValue] = []
            let texts = try GeminiOutbound.texts(fields["content"], path: path + ".content", allowRefusal: true)
            for text in texts where !text.isEmpty {
                parts.append(.object(["text": .string(text)]))
            }
            if let calls = fields["tool_calls"], !calls.isNull {
                guard let list = calls.arrayValue else {
                    throw TranslationError("'tool_calls' must be an array.", param: path + ".tool_calls")
                }
                for (index, call) in list.enumerated() {
                    let callPath = "\(path).tool_calls[\(index)]"
                    guard case .object(let callFields) = call else {
                        throw TranslationError("Each tool call must be an object.", param: callPath)
                    }
                    if let type = callFields["type"], type != .string("function") {
                        throw TranslationError("Only function tool calls can be sent to Gemini.", param: callPath + ".type")
                    }
                    guard let name = callFields["function"]?["name"]?.stringValue, !name.isEmpty else {
                        throw TranslationError("A tool call needs a function name.", param: callPath + ".function.name")
                    }
                    let arguments = try GeminiOutbound.functionArguments(
                        callFields["function"]?["arguments"],
                        path: callPath + ".function.arguments"
                    )
                    if let id = callFields["id"]?.stringValue {
                        self.functionNames[id] = name
                    }
                    parts.append(.object(["functionCall": .object(["name": .string(name), "args": arguments])]))
                }
            }
            self.append(role: "model", parts: parts)
        }

        /// Appends parts, merging them into the last turn when it has the same role; turns without
        /// parts are left out (Gemini rejects empty turns).
        private mutating func append(role: String, parts: [JSONValue]) {
            guard !parts.isEmpty else { return }
            if let last = self.turns.indices.last, self.turns[last].role == role {
                self.turns[last].parts.append(contentsOf: parts)
            } else {
                self.turns.append(Turn(role: role, parts: parts))
            }
        }
    }

    /// The texts of a `content` that may only hold text: a string, or an array of `text` parts
    /// (and `refusal` parts in assistant messages).
    static func texts(_ content: JSONValue?, path: String, allowRefusal: Bool = false) throws(TranslationError) -> [String] {
        switch content {
        case nil, .null?:
            return []
        case .string(let text)?:
            return [text]
        case .array(let parts)?:
            var texts: [String] = []
            for (index, part) in parts.enumerated() {
                let partPath = "\(path)[\(index)]"
                switch part["type"]?.stringValue {
                case "text"?:
                    guard let text = part["text"]?.stringValue else {
                        throw TranslationError("A text part needs a string 'text'.", param: partPath + ".text")
                    }
                    texts.append(text)
                case "refusal"? where allowRefusal:
                    guard let text = part["refusal"]?.stringValue else {
                        throw TranslationError("A refusal part needs a string 'refusal'.", param: partPath + ".refusal")
                    }
                    texts.append(text)
                default:
                    throw TranslationError("Only text content parts are allowed in this message.", param: partPath + ".type")
                }
            }
            return texts
        default:
            throw TranslationError("'content' must be a string or an array of content parts.", param: path)
        }
    }

    /// The Gemini parts of a user message's `content`.
    static func userParts(_ content: JSONValue?, path: String) throws(TranslationError) -> [JSONValue] {
        switch content {
        case nil, .null?:
            return []
        case .string(let text)?:
            return text.isEmpty ? [] : [.object(["text": .string(text)])]
        case .array(let parts)?:
            var result: [JSONValue] = []
            for (index, part) in parts.enumerated() {
                let partPath = "\(path)[\(index)]"
                guard case .object(let fields) = part else {
                    throw TranslationError("Each content part must be an object.", param: partPath)
                }
                switch fields["type"]?.stringValue {
                case "text"?:
                    guard let text = fields["text"]?.stringValue else {
                        throw TranslationError("A text part needs a string 'text'.", param: partPath + ".text")
                    }
                    if !text.isEmpty {
                        result.append(.object(["text": .string(text)]))
                    }
                case "image_url"?:
                    let url: String
                    if let string = fields["image_url"]?.stringValue {
                        url = string
                    } else if let string = fields["image_url"]?["url"]?.stringValue {
                        url = string
                    } else {
                        throw TranslationError("'image_url.url' must be a string.", param: partPath + ".image_url.url")
                    }
                    result.append(try Self.imagePart(url: url, path: partPath + ".image_url.url"))
                case "input_audio"?:
                    guard let data = fields["input_audio"]?["data"]?.stringValue, !data.isEmpty else {
                        throw TranslationError("'input_audio.data' must be base64 audio.", param: partPath + ".input_audio.data")
                    }
                    guard let format = fields["input_audio"]?["format"]?.stringValue, !format.isEmpty else {
                        throw TranslationError("'input_audio.format' must be a string.", param: partPath + ".input_audio.format")
                    }
                    result.append(Self.inlineData(mimeType: "audio/" + format.lowercased(), data: data))
                case "file"?:
                    result.append(try Self.filePart(fields["file"], path: partPath + ".file"))
                default:
                    throw TranslationError("This content part type cannot be sent to Gemini.", param: partPath + ".type")
                }
            }
            return result
        default:
            throw TranslationError("'content' must be a string or an array of content parts.", param: path)
        }
    }

    /// `data:` URLs become `inlineData`; http(s) URLs become `fileData` with a type guessed from the extension.
    static func imagePart(url: String, path: String) throws(TranslationError) -> JSONValue {
        if url.hasPrefix("data:") {
            return try Self.dataURLPart(url, defaultMimeType: "image/jpeg", path: path)
        }
        let lowercased = url.lowercased()
        guard lowercased.hasPrefix("https://") || lowercased.hasPrefix("http://") else {
            throw TranslationError("Image URLs must be https://, http:// or data: URLs.", param: path)
        }
        return .object(["fileData": .object(["mimeType": .string(Self.mimeType(forURL: url)), "fileUri": .string(url)])])
    }

    /// An OpenAI `file` part: only inline `file_data` can be sent (Gemini cannot read OpenAI file ids).
    static func filePart(_ file: JSONValue?, path: String) throws(TranslationError) -> JSONValue {
        guard let data = file?["file_data"]?.stringValue, !data.isEmpty else {
            throw TranslationError("Gemini targets need files inline as 'file_data'; file ids cannot be resolved.", param: path + ".file_data")
        }
        if data.hasPrefix("data:") {
            return try Self.dataURLPart(data, defaultMimeType: "application/pdf", path: path + ".file_data")
        }
        let mimeType = file?["filename"]?.stringValue.map { Self.mimeType(forURL: $0, default: "application/pdf") } ?? "application/pdf"
        return Self.inlineData(mimeType: mimeType, data: data)
    }

    /// `data:[<type>][;params];base64,<data>` → `inlineData`.
    static func dataURLPart(_ url: String, defaultMimeType: String, path: String) throws(TranslationError) -> JSONValue {
        guard let comma = url.firstIndex(of: ",") else {
            throw TranslationError("Malformed data: URL.", param: path)
        }
        let header = url[url.index(url.startIndex, offsetBy: "data:".count)..<comma]
        let data = url[url.index(after: comma)...]
        guard header.hasSuffix(";base64"), !data.isEmpty else {
            throw TranslationError("Gemini needs base64 data: URLs (data:<type>;base64,<data>).", param: path)
        }
        let mimeType = header.prefix(while: { $0 != ";" })
        return Self.inlineData(mimeType: mimeType.isEmpty ? defaultMimeType : String(mimeType), data: String(data))
    }

    static func inlineData(mimeType: String, data: String) -> JSONValue {
        .object(["inlineData": .object(["mimeType": .string(mimeType), "data": .string(data)])])
    }

    /// A media type from a URL's or file name's extension.
    static func mimeType(forURL url: String, default fallback: String = "image/jpeg") -> String {
        let withoutQuery = url.prefix(while: { $0 != "?" && $0 != "#" })
        let name = withoutQuery.split(separator: "/", omittingEmptySubsequences: false).last ?? withoutQuery
        guard let dot = name.lastIndex(of: ".") else { return fallback }
        switch name[name.index(after: dot)...].lowercased() {
        case "png": return "image/png"
        case "jpg", "jpeg": return "image/jpeg"
        case "gif": return "image/gif"
        case "webp": return "image/webp"
        case "heic": return "image/heic"
        case "heif": return "image/heif"
        case "pdf": return "application/pdf"
        default: return fallback
        }
    }

    /// Tool-call `arguments` (a JSON string) → the `args` object of a `functionCall`.
    static func functionArguments(_ value: JSONValue?, path: String) throws(TranslationError) -> JSONValue {
        switch value {
        case nil, .null?:
            return .object([:])
        case .object(let object)?:
            return .object(object)
        case .string(let text)?:
            if text.allSatisfy(\.isWhitespace) { return .object([:]) }
            let parsed: JSONValue
            do {
                parsed = try JSONValue(parsing: Array(text.utf8))
            } catch {
                throw TranslationError("'arguments' is not valid JSON (\(error)).", param: path)
            }
            guard case .object = parsed else {
                throw TranslationError("'arguments' must encode a JSON object for Gemini.", param: path)
            }
            return parsed
        default:
            throw TranslationError("'arguments' must be a string of JSON.", param: path)
        }
    }

    /// A tool result → a `functionResponse` part; Gemini wants an object, so anything but a JSON
    /// object is wrapped as `{"content": text}`.
    static func functionResponse(name: String, text: String) -> JSONValue {
        let response: JSONValue
        if let parsed = try? JSONValue(parsing: Array(text.utf8)), case .object = parsed {
            response = parsed
        } else {
            response = .object(["content": .string(text)])
        }
        return .object(["functionResponse": .object(["name": .string(name), "response": response])])
    }
}

// MARK: - Tools and generation settings

extension GeminiOutbound {
    static func rejectUnsupported(_ chat: [String: JSONValue]) throws(TranslationError) {
        for legacy in ["functions", "function_call"] {
            if let value = chat[legacy], !value.isNull {
                throw TranslationError("The legacy '\(legacy)' is not supported for Gemini targets; use 'tools'.", param: legacy)
            }
        }
        if chat["logprobs"] == .bool(true) {
            throw TranslationError("Log probabilities are not available from Gemini targets.", param: "logprobs")
        }
    }

    static func functionDeclarations(_ tools: JSONValue?) throws(TranslationError) -> [JSONValue] {
        guard let tools, !tools.isNull else { return [] }
        guard let list = tools.arrayValue else {
            throw TranslationError("'tools' must be an array.", param: "tools")
        }
        var declarations: [JSONValue] = []
        for (index, tool) in list.enumerated() {
            let path = "tools[\(index)]"
            guard tool["type"] == .string("function") else {
                throw TranslationError("Only function tools can be sent to Gemini.", param: path + ".type")
            }
            guard case .object(let function)? = tool["function"] else {
                throw TranslationError("A function tool needs a 'function' object.", param: path + ".function")
            }
            guard let name = function["name"]?.stringValue, !name.isEmpty else {
                throw TranslationError("A function tool needs a name.", param: path + ".function.name")
            }
            var declaration: [String: JSONValue] = ["name": .string(name)]
            if let description = function["description"], !description.isNull {
                guard case .string = description else {
                    throw TranslationError("'description' must be a string.", param: path + ".function.description")
                }
                declaration["description"] = description
            }
            if let parameters = function["parameters"], !parameters.isNull {
                guard case .object = parameters else {
                    throw TranslationError("'parameters' must be a JSON Schema object.", param: path + ".function.parameters")
                }
                // OpenAI parameters are JSON Schema; `parameters` would take Gemini's OpenAPI subset,
                // which refuses keywords such as `additionalProperties` that strict tools always carry.
                declaration["parametersJsonSchema"] = parameters
            }
            declarations.append(.object(declaration))
        }
        return declarations
    }

    static func functionCallingConfig(_ choice: JSONValue?, declarations: [JSONValue]) throws(TranslationError) -> JSONValue? {
        guard let choice, !choice.isNull else { return nil }
        let mode: String
        var allowed: String?
        switch choice {
        case .string("auto"):
            mode = "AUTO"
        case .string("none"):
            mode = "NONE"
        case .string("required"):
            mode = "ANY"
        case .object(let fields) where fields["type"] == nil || fields["type"] == .string("function"):
            guard let name = fields["function"]?["name"]?.stringValue, !name.isEmpty else {
                throw TranslationError("'tool_choice.function.name' must be a string.", param: "tool_choice.function.name")
            }
            mode = "ANY"
            allowed = name
        default:
            throw TranslationError(
                "'tool_choice' must be 'auto', 'none', 'required' or {\"type\":\"function\",\"function\":{\"name\":…}}.",
                param: "tool_choice"
            )
        }
        guard !declarations.isEmpty else {
            if mode == "ANY" {
                throw TranslationError("'tool_choice' requires 'tools'.", param: "tool_choice")
            }
            return nil
        }
        var config: [String: JSONValue] = ["mode": .string(mode)]
        if let allowed {
            guard declarations.contains(where: { $0["name"] == .string(allowed) }) else {
                throw TranslationError("'tool_choice' names a function that is not in 'tools'.", param: "tool_choice.function.name")
            }
            config["allowedFunctionNames"] = .array([.string(allowed)])
        }
        return .object(config)
    }

    static func generationConfig(_ chat: [String: JSONValue]) throws(TranslationError) -> [String: JSONValue] {
        var config: [String: JSONValue] = [:]
        if let value = try Self.number(chat["temperature"], param: "temperature") {
            config["temperature"] = value
        }
        if let value = try Self.number(chat["top_p"], param: "top_p") {
            config["topP"] = value
        }
        let maxCompletionTokens = try Self.integer(chat["max_completion_tokens"], param: "max_completion_tokens")
        let maxTokens = try Self.integer(chat["max_tokens"], param: "max_tokens")
        if let value = maxCompletionTokens ?? maxTokens {
            guard value >= 1 else {
                let param = maxCompletionTokens != nil ? "max_completion_tokens" : "max_tokens"
                throw TranslationError("'\(param)' must be at least 1.", param: param)
            }
            config["maxOutputTokens"] = .int(value)
        }
        switch chat["stop"] {
        case nil, .null?:
            break
        case .string(let stop)?:
            config["stopSequences"] = .array([.string(stop)])
        case .array(let stops)?:
            for (index, stop) in stops.enumerated() {
                guard case .string = stop else {
                    throw TranslationError("'stop' must hold strings.", param: "stop[\(index)]")
                }
            }
            if !stops.isEmpty {
                config["stopSequences"] = .array(stops)
            }
        default:
            throw TranslationError("'stop' must be a string or an array of strings.", param: "stop")
        }
        if let n = try Self.integer(chat["n"], param: "n") {
            guard n == 1 else {
                throw TranslationError("Only n=1 is supported for Gemini targets.", param: "n")
            }
            config["candidateCount"] = .int(1)
        }
        if let seed = try Self.integer(chat["seed"], param: "seed") {
            config["seed"] = .int(seed)
        }
        // Penalties are only sent when they would change anything: some Gemini models refuse them,
        // and many clients send zeros by default.
        if let value = try Self.number(chat["presence_penalty"], param: "presence_penalty"), !Self.isZero(value) {
            config["presencePenalty"] = value
        }
        if let value = try Self.number(chat["frequency_penalty"], param: "frequency_penalty"), !Self.isZero(value) {
            config["frequencyPenalty"] = value
        }
        if let format = chat["response_format"], !format.isNull {
            switch format["type"]?.stringValue {
            case "text"?:
                break
            case "json_object"?:
                config["responseMimeType"] = .string("application/json")
            case "json_schema"?:
                guard let schema = format["json_schema"]?["schema"], case .object = schema else {
                    throw TranslationError(
                        "'response_format.json_schema.schema' must be a JSON Schema object.",
                        param: "response_format.json_schema.schema"
                    )
                }
                config["responseMimeType"] = .string("application/json")
                // JSON Schema as sent; `responseSchema` would take Gemini's OpenAPI subset instead.
                config["responseJsonSchema"] = schema
            default:
                throw TranslationError(
                    "'response_format.type' must be 'text', 'json_object' or 'json_schema'.",
                    param: "response_format.type"
                )
            }
        }
        return config
    }

    static func number(_ value: JSONValue?, param: String) throws(TranslationError) -> JSONValue? {
        switch value {
        case nil, .null?:
            return nil
        case .int(let number)?:
            return .int(number)
        case .double(let number)?:
            return .double(number)
        default:
            throw TranslationError("'\(param)' must be a number.", param: param)
        }
    }

    static func integer(_ value: JSONValue?, param: String) throws(TranslationError) -> Int64? {
        guard let value, !value.isNull else { return nil }
        guard let integer = value.intValue else {
            throw TranslationError("'\(param)' must be an integer.", param: param)
        }
        return integer
    }

    static func isZero(_ value: JSONValue) -> Bool {
        switch value {
        case .int(let number): number == 0
        case .double(let number): number == 0
        default: false
        }
    }
}
