// Turning a prompt version and a client's request into the body sent upstream: variables checked
// and rendered into the templates, the prompt's tools offered under each provider's names, and
// the provider's tool calls mapped back to the canonical names in the completion.

/// A `system` or `user` template: literal text with `{{ name }}` placeholders.
///
/// `{{`, optional spaces, an identifier (`[A-Za-z_][A-Za-z0-9_]*`), optional spaces and `}}`
/// form a placeholder; any other `{{` is literal text. There is no escaping and no logic.
public struct Template: Sendable, Hashable {
    /// A piece of a template.
    public enum Segment: Sendable, Hashable {
        case literal(String)
        case variable(String)
    }

    /// The template as written.
    public let source: String
    public let segments: [Segment]

    public init(_ source: String) {
        self.source = source
        self.segments = Self.parse(source)
    }

    /// The names of the variables the template uses, in order of first use, without repeats.
    public var variables: [String] {
        var names: [String] = []
        for segment in self.segments {
            if case .variable(let name) = segment, !names.contains(name) { names.append(name) }
        }
        return names
    }

    /// The template with each placeholder replaced by its value (a missing value renders as "").
    public func render(_ values: [String: String]) -> String {
        var text = ""
        text.reserveCapacity(self.source.utf8.count)
        for segment in self.segments {
            switch segment {
            case .literal(let literal): text += literal
            case .variable(let name): text += values[name] ?? ""
            }
        }
        return text
    }

    static func parse(_ source: String) -> [Segment] {
        let bytes = Array(source.utf8)
        let brace = UInt8(ascii: "{")
        var segments: [Segment] = []
        var literalStart = 0
        var index = 0
        while index + 1 < bytes.count {
            guard bytes[index] == brace, bytes[index + 1] == brace, let match = Self.placeholder(in: bytes, at: index) else {
                index += 1
                continue
            }
            if literalStart < index {
                segments.append(.literal(String(decoding: bytes[literalStart..<index], as: UTF8.self)))
            }
            segments.append(.variable(match.name))
            index = match.end
            literalStart = match.end
        }
        if literalStart < bytes.count {
            segments.append(.literal(String(decoding: bytes[literalStart...], as: UTF8.self)))
        }
        return segments
    }

    /// The placeholder starting at `start` (which holds `{{`), if one does.
    static func placeholder(in bytes: [UInt8], at start: Int) -> (name: String, end: Int)? {
        func isSpace(_ byte: UInt8) -> Bool { byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
        var index = start + 2
        while index < bytes.count, isSpace(bytes[index]) { index += 1 }
        let nameStart = index
        guard index < bytes.count, PromptSpec.isLetter(bytes[index]) || bytes[index] == UInt8(ascii: "_") else { return nil }
        index += 1
        while index < bytes.count, PromptSpec.isLetter(bytes[index]) || PromptSpec.isDigit(bytes[index]) || bytes[index] == UInt8(ascii: "_") {
            index += 1
        }
        let nameEnd = index
        while index < bytes.count, isSpace(bytes[index]) { index += 1 }
        guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "}"), bytes[index + 1] == UInt8(ascii: "}") else { return nil }
        return (String(decoding: bytes[nameStart..<nameEnd], as: UTF8.self), index + 2)
    }
}

// MARK: - Variables

extension PromptSpec {
    /// The client's `metadata.prompt_variables`, checked against the declarations and rendered as
    /// text for the templates: one entry per declared variable (an optional one without a default
    /// renders as "").
    ///
    /// `sent` is a JSON object, a string holding one (typed SDKs only allow string metadata
    /// values), or nil. `prompt` names the prompt in messages (`support@3`). Undeclared names are
    /// reported first; then declared variables in name order, each either missing or of the wrong type.
    public func resolveVariables(_ sent: JSONValue?, prompt: String) throws(APIError) -> [String: String] {
        let param = "metadata.prompt_variables"
        var provided: [String: JSONValue] = [:]
        switch sent ?? .null {
        case .null:
            break
        case .object(let fields):
            provided = fields
        case .string(let text):
            guard case .object(let fields)? = try? JSONValue(parsing: text.utf8) else {
                throw .invalidRequest(
                    "'metadata.prompt_variables' must be a JSON object, or a string holding one; this string is not a JSON object.",
                    param: param,
                    code: "invalid_prompt_variables"
                )
            }
            provided = fields
        default:
            throw .invalidRequest(
                "'metadata.prompt_variables' must be a JSON object (or a string holding one), not \(sent?.typeName ?? "null").",
                param: param,
                code: "invalid_prompt_variables"
            )
        }

        let declared = self.variables.map(\.name).sorted()
        for name in provided.keys.sorted() where !declared.contains(name) {
            let known = declared.isEmpty ? "it takes no variables" : "its variables are: \(declared.joined(separator: ", "))"
            throw .invalidRequest(
                "The prompt '\(prompt)' has no variable '\(name)'; \(known).",
                param: "\(param).\(name)",
                code: "unexpected_prompt_variable"
            )
        }

        var values: [String: String] = [:]
        for variable in self.variables.sorted(by: { $0.name < $1.name }) {
            guard let value = provided[variable.name], !value.isNull else {
                if variable.required {
                    throw .invalidRequest(
                        "The prompt '\(prompt)' needs the variable '\(variable.name)' (\(Self.typeDescription(variable))); send it in metadata.prompt_variables.",
                        param: "\(param).\(variable.name)",
                        code: "missing_prompt_variable"
                    )
                }
                var text = ""
                if let defaultValue = variable.defaultValue, case .text(let rendered) = variable.render(defaultValue) { text = rendered }
                values[variable.name] = text
                continue
            }
            let problem: String
            switch variable.render(value) {
            case .text(let text):
                values[variable.name] = text
                continue
            case .wrongType:
                problem = "must be \(variable.type.expectation), not \(Self.article(value.typeName))"
            case .notAllowed:
                problem = "must be \(variable.type.expectation); '\(value.stringValue ?? "")' is not allowed"
            case .tooLong(let length):
                problem = "must be at most \(variable.maxLength ?? 0) characters long, not \(length)"
            }
            throw .invalidRequest(
                "The variable '\(variable.name)' of the prompt '\(prompt)' \(problem).",
                param: "\(param).\(variable.name)",
                code: "invalid_prompt_variable"
            )
        }
        return values
    }

    static func typeDescription(_ variable: Variable) -> String {
        switch variable.type {
        case .enumeration: variable.type.expectation
        default: variable.type.name
        }
    }

    static func article(_ typeName: String) -> String {
        switch typeName {
        case "null": "null"
        case "array", "object": "an \(typeName)"
        default: "a \(typeName)"
        }
    }
}

// MARK: - The upstream body

extension PromptSpec {
    /// The chat-completions body to send, in OpenAI's form: `metadata.prompt_variables` removed
    /// (and `metadata` when nothing else is left), the variant's rendered `system` message first
    /// (before the client's messages, its own system message included), the rendered `user`
    /// message last, and the prompt's tools offered under the names `providerKind` sees.
    ///
    /// Tool calls already in the client's messages (a conversation that continues) are written
    /// back in the provider's names too. A client may not send `tools` with a prompt that has
    /// tools (`tools_conflict_with_prompt`).
    public func apply(
        variant: Variant,
        values: [String: String],
        to body: [String: JSONValue],
        providerKind: ProviderKind,
        promptLabel: String
    ) throws(APIError) -> [String: JSONValue] {
        var body = body
        if case .object(var metadata) = body["metadata"] ?? .null {
            metadata.removeValue(forKey: "prompt_variables")
            if metadata.isEmpty {
                body.removeValue(forKey: "metadata")
            } else {
                body["metadata"] = .object(metadata)
            }
        }

        var messages: [JSONValue]
        switch body["messages"] ?? .null {
        case .null: messages = []
        case .array(let list): messages = list
        default: throw .invalidRequest("'messages' must be an array.", param: "messages", code: "invalid_type")
        }
        if self.hasToolMapping(for: providerKind) {
            messages = messages.map { self.providerForm(ofMessage: $0, providerKind: providerKind) }
        }
        if let system = variant.system {
            messages.insert(["role": "system", "content": .string(system.render(values))], at: 0)
        }
        if let user = variant.user {
            messages.append(["role": "user", "content": .string(user.render(values))])
        }
        guard !messages.isEmpty else {
            throw .invalidRequest("'messages' must contain at least one message.", param: "messages", code: "empty_array")
        }
        body["messages"] = .array(messages)

        if !self.tools.isEmpty {
            if let sent = body["tools"], !sent.isNull, sent.arrayValue?.isEmpty != true {
                throw .invalidRequest(
                    "The prompt '\(promptLabel)' brings its own tools; do not send 'tools' with it.",
                    param: "tools",
                    code: "tools_conflict_with_prompt"
                )
            }
            body["tools"] = .array(self.tools.map { $0.openAIForm(for: providerKind) })
            // A tool_choice naming a prompt tool by its canonical name gets the provider's name.
            if case .object(var choice) = body["tool_choice"] ?? .null,
                case .object(var function) = choice["function"] ?? .null,
                let name = function["name"]?.stringValue,
                let tool = self.tools.first(where: { $0.name == name })
            {
                function["name"] = .string(tool.providerName(for: providerKind))
                choice["function"] = .object(function)
                body["tool_choice"] = .object(choice)
            }
        }
        return body
    }

    /// Whether some tool has a name or argument names of its own for `providerKind`.
    public func hasToolMapping(for providerKind: ProviderKind) -> Bool {
        self.tools.contains { $0.names[providerKind] != nil || !($0.arguments[providerKind]?.isEmpty ?? true) }
    }

    /// Whether some tool renames its arguments for some provider kind. Streamed tool-call
    /// arguments arrive in fragments and cannot be renamed on the fly.
    public var hasArgumentMapping: Bool {
        self.tools.contains { tool in tool.arguments.values.contains { !$0.isEmpty } }
    }

    /// Whether some tool renames its arguments for `providerKind`.
    public func hasArgumentMapping(for providerKind: ProviderKind) -> Bool {
        self.tools.contains { !($0.arguments[providerKind]?.isEmpty ?? true) }
    }

    /// The canonical name of the prompt tool `providerKind` knows as `providerName`; other names
    /// are returned unchanged. For tool calls in streamed chunks.
    public func canonicalToolName(_ providerName: String, providerKind: ProviderKind) -> String {
        self.tools.first(where: { $0.providerName(for: providerKind) == providerName })?.name ?? providerName
    }

    /// A non-streaming chat completion in OpenAI's form with every tool call of a prompt tool
    /// under its canonical name, and its arguments under their canonical names (arguments that
    /// are not a JSON object are left as they are).
    public func canonicalizeToolCalls(in completion: JSONValue, providerKind: ProviderKind) -> JSONValue {
        guard self.hasToolMapping(for: providerKind), case .object(var root) = completion,
            case .array(var choices) = root["choices"] ?? .null
        else { return completion }
        for index in choices.indices {
            guard case .object(var choice) = choices[index], case .object(var message) = choice["message"] ?? .null,
                case .array(let calls) = message["tool_calls"] ?? .null
            else { continue }
            message["tool_calls"] = .array(calls.map { self.mapToolCall($0, providerKind: providerKind, toProvider: false) })
            choice["message"] = .object(message)
            choices[index] = .object(choice)
        }
        root["choices"] = .array(choices)
        return .object(root)
    }

    /// An assistant message of the client's history with its tool calls in the provider's names.
    func providerForm(ofMessage message: JSONValue, providerKind: ProviderKind) -> JSONValue {
        guard case .object(var fields) = message, case .array(let calls) = fields["tool_calls"] ?? .null else { return message }
        fields["tool_calls"] = .array(calls.map { self.mapToolCall($0, providerKind: providerKind, toProvider: true) })
        return .object(fields)
    }

    /// One `{"function": {"name", "arguments"}}` tool call renamed canonical → provider
    /// (`toProvider`) or back.
    func mapToolCall(_ call: JSONValue, providerKind: ProviderKind, toProvider: Bool) -> JSONValue {
        guard case .object(var fields) = call, case .object(var function) = fields["function"] ?? .null,
            let name = function["name"]?.stringValue
        else { return call }
        let match: Tool?
        if toProvider {
            match = self.tools.first(where: { $0.name == name })
        } else {
            match = self.tools.first(where: { $0.providerName(for: providerKind) == name })
        }
        guard let tool = match else { return call }
        function["name"] = .string(toProvider ? tool.providerName(for: providerKind) : tool.name)
        let mapping = tool.arguments[providerKind] ?? [:]
        if !mapping.isEmpty, let text = function["arguments"]?.stringValue,
            case .object(let arguments)? = try? JSONValue(parsing: text.utf8)
        {
            let renames = toProvider ? mapping : Dictionary(mapping.map { ($0.value, $0.key) }, uniquingKeysWith: { first, _ in first })
            var renamed: [String: JSONValue] = [:]
            for (key, value) in arguments { renamed[renames[key] ?? key] = value }
            function["arguments"] = .string(String(decoding: JSONValue.object(renamed).serialized(sortedKeys: true), as: UTF8.self))
        }
        fields["function"] = .object(function)
        return .object(fields)
    }
}

extension PromptSpec.Tool {
    /// The tool as an OpenAI function tool, under the provider's names.
    func openAIForm(for kind: ProviderKind) -> JSONValue {
        var function: [String: JSONValue] = [
            "name": .string(self.providerName(for: kind)),
            "parameters": Self.renamingProperties(of: self.parameters, with: self.arguments[kind] ?? [:]),
        ]
        if let description = self.description { function["description"] = .string(description) }
        return ["type": "function", "function": .object(function)]
    }

    /// `parameters` with its top-level `properties` keys and `required` entries renamed.
    static func renamingProperties(of parameters: JSONValue, with mapping: [String: String]) -> JSONValue {
        guard !mapping.isEmpty, case .object(var schema) = parameters else { return parameters }
        if case .object(let properties) = schema["properties"] ?? .null {
            var renamed: [String: JSONValue] = [:]
            for (key, value) in properties { renamed[mapping[key] ?? key] = value }
            schema["properties"] = .object(renamed)
        }
        if case .array(let required) = schema["required"] ?? .null {
            schema["required"] = .array(
                required.map { (item: JSONValue) -> JSONValue in
                    guard let name = item.stringValue else { return item }
                    return .string(mapping[name] ?? name)
                }
            )
        }
        return .object(schema)
    }
}

/// The text of a non-streaming chat completion: `choices[0].message.content` when it is a string.
public func outputText(ofCompletion completion: JSONValue) -> String? {
    completion["choices"]?[0]?["message"]?["content"]?.stringValue
}
