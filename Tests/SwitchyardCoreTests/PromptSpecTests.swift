import Testing

@testable import SwitchyardCore

/// Prompt versions: parsing with field paths, canonical JSON, variables, rendering, variants,
/// and the per-provider tool names.
struct PromptSpecTests {
    static func spec(_ text: String) throws -> PromptSpec {
        try PromptSpec(json: try JSONValue(parsing: text.utf8))
    }

    static func json(_ text: String) throws -> JSONValue {
        try JSONValue(parsing: text.utf8)
    }

    static let support = #"""
        {
          "variables": {
            "customer": {"type": "string", "description": "who is asking", "max_length": 20},
            "tone": {"type": "enum", "values": ["formal", "casual"], "default": "formal"},
            "count": {"type": "integer", "required": false},
            "score": {"type": "number", "required": false},
            "urgent": {"type": "boolean", "required": false},
            "facts": {"type": "json", "required": false},
            "limit": {"type": "integer", "default": 5.0}
          },
          "variants": [
            {"name": "claude", "models": ["claude*", "big-model"], "system": "You help {{customer}}.", "user": "Tone: {{ tone }}"},
            {"name": "default", "system": "Be {{tone}} with {{customer}}. {{ not a var", "user": "n={{count}} s={{score}} u={{urgent}} f={{facts}} l={{limit}}",
             "response_schema": {"type": "object", "properties": {"reply": {"type": "string"}}, "required": ["reply"]}}
          ],
          "tools": [
            {"name": "lookup_order", "description": "Find an order",
             "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}, "verbose": {"type": "boolean"}}, "required": ["order_id"]},
             "names": {"anthropic": "lookupOrder"},
             "arguments": {"anthropic": {"order_id": "orderId"}}},
            {"name": "refund"}
          ],
          "response_schema": {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"], "additionalProperties": false},
          "on_invalid_output": "next_target"
        }
        """#

    static let minimal = #"{"variants": [{"name": "v", "user": "hi"}]}"#

    // MARK: Parsing and canonical JSON

    @Test func validSpecRoundTripsThroughCanonicalJSON() throws {
        let spec = try Self.spec(Self.support)
        #expect(spec.variables.map(\.name) == ["count", "customer", "facts", "limit", "score", "tone", "urgent"])
        #expect(spec.variants.map(\.name) == ["claude", "default"])
        #expect(spec.onInvalidOutput == .nextTarget)
        #expect(spec.tools.count == 2)
        #expect(spec.tools[1].parameters == PromptSpec.Tool.emptyParameters)

        let tone = try #require(spec.variable(named: "tone"))
        #expect(tone.type == .enumeration(["formal", "casual"]))
        #expect(!tone.required)
        #expect(tone.defaultValue == "formal")
        let customer = try #require(spec.variable(named: "customer"))
        #expect(customer.required)
        #expect(customer.maxLength == 20)
        #expect(customer.description == "who is asking")
        #expect(spec.variable(named: "limit")?.defaultValue == .int(5), "an integral default is stored as an integer")

        let again = try PromptSpec(json: spec.json)
        #expect(again == spec)
        #expect(again.json == spec.json)
        let reparsed = try PromptSpec(json: try JSONValue(parsing: spec.json.serialized(sortedKeys: true)))
        #expect(reparsed == spec)
    }

    @Test func defaultsAreSpelledOutAndOnInvalidOutputOnlyWithASchema() throws {
        let spec = try Self.spec(Self.minimal)
        #expect(spec.json == ["variables": [:], "variants": [["name": "v", "user": "hi"]], "tools": []])
        #expect(try PromptSpec(json: spec.json) == spec)

        let withSchema = try Self.spec(#"{"variants": [{"name": "v", "user": "hi", "response_schema": {"type": "object"}}]}"#)
        #expect(withSchema.onInvalidOutput == .repair)
        #expect(withSchema.json["on_invalid_output"] == "repair")
        #expect(try PromptSpec(json: withSchema.json) == withSchema)
    }

    @Test(arguments: [
        (#"{"variants": [{"name": "v", "user": "hi"}], "surprise": 1}"#, "surprise"),
        (#"{"variants": [{"name": "v", "user": "hi", "temperature": 1}]}"#, "variants[0].temperature"),
        (#"{"variables": {"a": {"type": "string", "min": 1}}, "variants": [{"name": "v", "user": "{{a}}"}]}"#, "variables.a.min"),
        (
            #"{"variables": {"a": {"type": "string"}}, "variants": [{"name": "v", "user": "{{a}}"}, {"name": "w", "user": "{{ b }}"}]}"#,
            "variants[1].user"
        ),
        (#"{"variants": [{"name": "v", "system": "Hi {{who}}"}]}"#, "variants[0].system"),
        (#"{"variables": {"tone": {"type": "enum"}}, "variants": [{"name": "v", "user": "hi"}]}"#, "variables.tone.values"),
        (#"{"variables": {"tone": {"type": "enum", "values": []}}, "variants": [{"name": "v", "user": "hi"}]}"#, "variables.tone.values"),
        (#"{"variables": {"tone": {"type": "enum", "values": ["a", "a"]}}, "variants": [{"name": "v", "user": "hi"}]}"#, "variables.tone.values[1]"),
        (#"{"variables": {"tone": {"type": "string", "values": ["a"]}}, "variants": [{"name": "v", "user": "hi"}]}"#, "variables.tone.values"),
        (#"{"variables": {"n": {"type": "integer", "default": "three"}}, "variants": [{"name": "v", "user": "hi"}]}"#, "variables.n.default"),
        (#"{"variables": {"n": {"type": "integer", "default": 2.5}}, "variants": [{"name": "v", "user": "hi"}]}"#, "variables.n.default"),
        (
            #"{"variables": {"t": {"type": "enum", "values": ["a"], "default": "b"}}, "variants": [{"name": "v", "user": "hi"}]}"#,
            "variables.t.default"
        ),
        (
            #"{"variables": {"s": {"type": "string", "max_length": 2, "default": "abc"}}, "variants": [{"name": "v", "user": "hi"}]}"#,
            "variables.s.default"
        ),
        (
            #"{"variables": {"s": {"type": "string", "required": true, "default": "x"}}, "variants": [{"name": "v", "user": "hi"}]}"#,
            "variables.s.required"
        ),
        (#"{"variables": {"n": {"type": "integer", "max_length": 3}}, "variants": [{"name": "v", "user": "hi"}]}"#, "variables.n.max_length"),
        (#"{"variables": {"s": {"type": "string", "max_length": 0}}, "variants": [{"name": "v", "user": "hi"}]}"#, "variables.s.max_length"),
        (#"{"variables": {"s": {"type": "text"}}, "variants": [{"name": "v", "user": "hi"}]}"#, "variables.s.type"),
        (#"{"variables": {"s": {}}, "variants": [{"name": "v", "user": "hi"}]}"#, "variables.s.type"),
        (#"{"variables": {"1abc": {"type": "string"}}, "variants": [{"name": "v", "user": "hi"}]}"#, "variables.1abc"),
        (#"{"variables": {"a-b": {"type": "string"}}, "variants": [{"name": "v", "user": "hi"}]}"#, "variables.a-b"),
        (#"{"variables": [], "variants": [{"name": "v", "user": "hi"}]}"#, "variables"),
        (#"{}"#, "variants"),
        (#"{"variants": []}"#, "variants"),
        (#"{"variants": [{"name": "v", "user": "hi"}, {"name": "v", "system": "yo"}]}"#, "variants[1].name"),
        (#"{"variants": [{"user": "hi"}]}"#, "variants[0].name"),
        (#"{"variants": [{"name": "a b", "user": "hi"}]}"#, "variants[0].name"),
        (#"{"variants": [{"name": "v"}]}"#, "variants[0]"),
        (#"{"variants": [{"name": "v", "user": ""}]}"#, "variants[0].user"),
        (#"{"variants": [{"name": "v", "user": "hi", "models": []}]}"#, "variants[0].models"),
        (#"{"variants": [{"name": "v", "user": "hi", "models": ["gpt*4"]}]}"#, "variants[0].models[0]"),
        (#"{"variants": [{"name": "v", "user": "hi", "models": ["ok", "claude**"]}]}"#, "variants[0].models[1]"),
        (#"{"variants": [{"name": "v", "user": "hi", "response_schema": []}]}"#, "variants[0].response_schema"),
        (#"{"variants": [{"name": "v", "user": "hi"}], "on_invalid_output": "repair"}"#, "on_invalid_output"),
        (#"{"variants": [{"name": "v", "user": "hi"}], "response_schema": {"type": "object"}, "on_invalid_output": "retry"}"#, "on_invalid_output"),
        (#"{"variants": [{"name": "v", "user": "hi"}], "response_schema": "object"}"#, "response_schema"),
        (
            #"{"variants": [{"name": "v", "user": "hi"}], "response_schema": {"type": "object", "properties": {"a": {"type": "string", "pattern": "x"}}}}"#,
            "response_schema.properties.a.pattern"
        ),
        (#"{"variants": [{"name": "v", "user": "hi"}], "tools": [{"name": "t", "names": {"azure": "x"}}]}"#, "tools[0].names.azure"),
        (#"{"variants": [{"name": "v", "user": "hi"}], "tools": [{"name": "t", "names": {"anthropic": "bad name"}}]}"#, "tools[0].names.anthropic"),
        (#"{"variants": [{"name": "v", "user": "hi"}], "tools": [{"name": "t", "arguments": {"vertex": {"a": "b"}}}]}"#, "tools[0].arguments.vertex"),
        (
            #"{"variants": [{"name": "v", "user": "hi"}], "tools": [{"name": "t", "parameters": {"type": "object", "properties": {"a": {}, "b": {}}}, "arguments": {"anthropic": {"a": "x", "b": "x"}}}]}"#,
            "tools[0].arguments.anthropic.b"
        ),
        (
            #"{"variants": [{"name": "v", "user": "hi"}], "tools": [{"name": "t", "parameters": {"type": "object", "properties": {"a": {}}}, "arguments": {"gemini": {"z": "y"}}}]}"#,
            "tools[0].arguments.gemini.z"
        ),
        (
            #"{"variants": [{"name": "v", "user": "hi"}], "tools": [{"name": "t", "parameters": {"type": "object", "properties": {"a": {}, "b": {}}}, "arguments": {"gemini": {"a": "b"}}}]}"#,
            "tools[0].arguments.gemini.a"
        ),
        (#"{"variants": [{"name": "v", "user": "hi"}], "tools": [{"name": "t"}, {"name": "t"}]}"#, "tools[1].name"),
        (#"{"variants": [{"name": "v", "user": "hi"}], "tools": [{"name": "t", "names": {"openai": "u"}}, {"name": "u"}]}"#, "tools[1].name"),
        (#"{"variants": [{"name": "v", "user": "hi"}], "tools": [{"name": "t.x"}]}"#, "tools[0].name"),
        (#"{"variants": [{"name": "v", "user": "hi"}], "tools": [{"name": "t", "parameters": "object"}]}"#, "tools[0].parameters"),
        (#"{"variants": [{"name": "v", "user": "hi"}], "tools": [{"name": "t", "strict": true}]}"#, "tools[0].strict"),
    ])
    func badSpecsNameTheField(text: String, field: String) throws {
        let error = #expect(throws: FieldError.self) { try Self.spec(text) }
        #expect(error?.field == field, "\(error?.description ?? "no error")")
    }

    @Test func undeclaredPlaceholderMessageNamesTheVariable() throws {
        let error = #expect(throws: FieldError.self) {
            try Self.spec(
                #"{"variables": {"a": {"type": "string"}}, "variants": [{"name": "v", "user": "{{a}}"}, {"name": "w", "user": "{{ b }}"}]}"#
            )
        }
        #expect(error?.message.contains("'b'") == true)
        #expect(error?.message.contains("declared: a") == true)
    }

    @Test func tooManyVariablesAreRefused() throws {
        let variables = (0...PromptSpec.maxVariables).map { #""v\#($0)": {"type": "string"}"# }.joined(separator: ",")
        let error = #expect(throws: FieldError.self) {
            try Self.spec(#"{"variables": {\#(variables)}, "variants": [{"name": "v", "user": "hi"}]}"#)
        }
        #expect(error?.field == "variables")
    }

    // MARK: Templates

    static let templateCases: [(String, [String], String)] = [
        ("Hello {{name}}!", ["name"], "Hello Ada!"),
        ("Hello {{ name }} and {{\tname}}", ["name"], "Hello Ada and Ada"),
        ("{{ not a var", [], "{{ not a var"),
        ("{{name", [], "{{name"),
        ("{{ name }", [], "{{ name }"),
        ("{{{name}}}", ["name"], "{Ada}"),
        ("{{1x}} {{x-y}} {{}}", [], "{{1x}} {{x-y}} {{}}"),
        ("{{a}}{{b}}{{a}}", ["a", "b"], "AdaBeeAda"),
        ("é {{ b }} ü", ["b"], "é Bee ü"),
        ("", [], ""),
    ]

    @Test(arguments: PromptSpecTests.templateCases)
    func templatesFindAndRenderPlaceholders(source: String, variables: [String], rendered: String) {
        let template = Template(source)
        #expect(template.source == source)
        #expect(template.variables == variables)
        #expect(template.render(["name": "Ada", "a": "Ada", "b": "Bee"]) == rendered)
    }

    // MARK: Variables

    @Test func variablesRenderByType() throws {
        let spec = try Self.spec(Self.support)
        let values = try spec.resolveVariables(
            try Self.json(#"{"customer": "Ada", "count": 3, "score": 2.5, "urgent": true, "facts": {"b": 1, "a": [true, null]}, "limit": 7.0}"#),
            prompt: "support@3"
        )
        #expect(
            values == [
                "customer": "Ada", "tone": "formal", "count": "3", "score": "2.5", "urgent": "true",
                "facts": #"{"a":[true,null],"b":1}"#, "limit": "7",
            ]
        )
        let integral = try spec.resolveVariables(try Self.json(#"{"customer": "Ada", "count": 4.0, "score": 3.0, "tone": "casual"}"#), prompt: "p")
        #expect(integral["count"] == "4")
        #expect(integral["score"] == "3")
        #expect(integral["tone"] == "casual")
    }

    @Test func optionalVariablesWithoutDefaultRenderEmpty() throws {
        let spec = try Self.spec(Self.support)
        let values = try spec.resolveVariables(["customer": "Ada", "count": nil], prompt: "support@3")
        #expect(values["count"] == "")
        #expect(values["score"] == "")
        #expect(values["urgent"] == "")
        #expect(values["facts"] == "")
        #expect(values["tone"] == "formal")
        #expect(values["limit"] == "5")
        let variant = try #require(spec.variant(forModel: "gpt-4o"))
        #expect(variant.user?.render(values) == "n= s= u= f= l=5")
    }

    @Test func variablesMaySendAsAJSONString() throws {
        let spec = try Self.spec(Self.support)
        let values = try spec.resolveVariables(.string(#"{"customer": "Ada", "urgent": false}"#), prompt: "support@3")
        #expect(values["customer"] == "Ada")
        #expect(values["urgent"] == "false")
        let none = try Self.spec(Self.minimal)
        #expect(try none.resolveVariables(nil, prompt: "p").isEmpty)
        #expect(try none.resolveVariables(.null, prompt: "p").isEmpty)
    }

    @Test(arguments: [
        (#"{}"#, "missing_prompt_variable", "metadata.prompt_variables.customer"),
        (#"{"customer": null}"#, "missing_prompt_variable", "metadata.prompt_variables.customer"),
        (#"{"customer": "Ada", "colour": "red", "zzz": 1}"#, "unexpected_prompt_variable", "metadata.prompt_variables.colour"),
        (#"{"colour": "red"}"#, "unexpected_prompt_variable", "metadata.prompt_variables.colour"),
        (#"{"customer": 5}"#, "invalid_prompt_variable", "metadata.prompt_variables.customer"),
        (#"{"customer": "Ada", "tone": "rude"}"#, "invalid_prompt_variable", "metadata.prompt_variables.tone"),
        (#"{"customer": "Ada", "tone": 1}"#, "invalid_prompt_variable", "metadata.prompt_variables.tone"),
        (#"{"customer": "Ada Lovelace, Countess of Lovelace"}"#, "invalid_prompt_variable", "metadata.prompt_variables.customer"),
        (#"{"customer": "Ada", "count": 2.5}"#, "invalid_prompt_variable", "metadata.prompt_variables.count"),
        (#"{"customer": "Ada", "count": "2"}"#, "invalid_prompt_variable", "metadata.prompt_variables.count"),
        (#"{"customer": "Ada", "score": "high"}"#, "invalid_prompt_variable", "metadata.prompt_variables.score"),
        (#"{"customer": "Ada", "urgent": "yes"}"#, "invalid_prompt_variable", "metadata.prompt_variables.urgent"),
        (#"[1]"#, "invalid_prompt_variables", "metadata.prompt_variables"),
        (#"7"#, "invalid_prompt_variables", "metadata.prompt_variables"),
        (#""not json""#, "invalid_prompt_variables", "metadata.prompt_variables"),
        (#""[1, 2]""#, "invalid_prompt_variables", "metadata.prompt_variables"),
        (#""{\"customer\": 5}""#, "invalid_prompt_variable", "metadata.prompt_variables.customer"),
    ])
    func badVariablesAreClientErrors(sent: String, code: String, param: String) throws {
        let spec = try Self.spec(Self.support)
        let value = try Self.json(sent)
        let error = #expect(throws: APIError.self) { try spec.resolveVariables(value, prompt: "support@3") }
        #expect(error?.status == 400)
        #expect(error?.type == "invalid_request_error")
        #expect(error?.code == code, "\(error?.message ?? "")")
        #expect(error?.param == param)
    }

    @Test func variableErrorMessagesHelp() throws {
        let spec = try Self.spec(Self.support)
        let missing = #expect(throws: APIError.self) { try spec.resolveVariables(["tone": "formal"], prompt: "support@3") }
        #expect(
            missing?.message
                == "The prompt 'support@3' needs the variable 'customer' (string); send it in metadata.prompt_variables."
        )
        let unexpected = #expect(throws: APIError.self) { try spec.resolveVariables(["customer": "Ada", "colour": "red"], prompt: "support@3") }
        #expect(unexpected?.message.contains("'colour'") == true)
        #expect(unexpected?.message.contains("count, customer, facts, limit, score, tone, urgent") == true)
        let wrong = #expect(throws: APIError.self) { try spec.resolveVariables(["customer": "Ada", "count": "2"], prompt: "support@3") }
        #expect(wrong?.message.contains("'count'") == true)
        #expect(wrong?.message.contains("an integer") == true)
        let notAllowed = #expect(throws: APIError.self) { try spec.resolveVariables(["customer": "Ada", "tone": "rude"], prompt: "support@3") }
        #expect(notAllowed?.message.contains("one of: formal, casual") == true)
    }

    // MARK: Variants

    @Test(arguments: [
        ("claude-3-5-sonnet", "claude" as String?),
        ("claude", "claude"),
        ("big-model", "claude"),
        ("big-model-2", "default"),
        ("gpt-4o", "default"),
        ("my-claude", "default"),
    ])
    func variantSelection(model: String, variant: String?) throws {
        let spec = try Self.spec(Self.support)
        #expect(spec.variant(forModel: model)?.name == variant)
    }

    @Test func withoutACatchAllSomeModelsHaveNoVariant() throws {
        let spec = try Self.spec(
            #"{"variants": [{"name": "a", "models": ["gpt-4o"], "user": "x"}, {"name": "b", "models": ["claude*"], "user": "y"}]}"#
        )
        #expect(spec.variant(forModel: "gpt-4o")?.name == "a")
        #expect(spec.variant(forModel: "gpt-4o-mini") == nil)
        #expect(spec.variant(forModel: "claude-opus")?.name == "b")
        let all = try Self.spec(#"{"variants": [{"name": "a", "models": ["*"], "user": "x"}]}"#)
        #expect(all.variant(forModel: "anything")?.name == "a")
    }

    @Test func variantSchemaOverridesTheVersionSchema() throws {
        let spec = try Self.spec(Self.support)
        let claude = try #require(spec.variant(forModel: "claude-3"))
        let fallback = try #require(spec.variant(forModel: "gpt-4o"))
        #expect(spec.responseSchema(for: claude) == spec.responseSchema)
        #expect(spec.responseSchema(for: fallback)?.json["required"] == ["reply"])
    }

    // MARK: Rendering the upstream body

    @Test func systemGoesFirstUserLastAndMetadataIsStripped() throws {
        let spec = try Self.spec(Self.support)
        let variant = try #require(spec.variant(forModel: "gpt-4o"))
        let sent: JSONValue = ["customer": "Ada", "count": 3, "score": 2.5, "urgent": true, "facts": ["b": 1, "a": "x"]]
        let values = try spec.resolveVariables(sent, prompt: "support@3")
        let body: [String: JSONValue] = [
            "model": "support",
            "messages": [["role": "system", "content": "client system"], ["role": "user", "content": "hello"]],
            "metadata": ["prompt_variables": sent, "feature": "inbox"],
            "temperature": 0.2,
        ]
        let upstream = try spec.apply(variant: variant, values: values, to: body, providerKind: .openai, promptLabel: "support@3")
        let messages = try #require(upstream["messages"]?.arrayValue)
        #expect(messages.count == 4)
        #expect(messages[0] == ["role": "system", "content": "Be formal with Ada. {{ not a var"])
        #expect(messages[1] == ["role": "system", "content": "client system"])
        #expect(messages[2] == ["role": "user", "content": "hello"])
        #expect(messages[3] == ["role": "user", "content": #"n=3 s=2.5 u=true f={"a":"x","b":1} l=5"#])
        #expect(upstream["metadata"] == ["feature": "inbox"])
        #expect(upstream["temperature"] == 0.2)
        #expect(upstream["model"] == "support")

        let onlyVariables: [String: JSONValue] = ["model": "support", "messages": [], "metadata": ["prompt_variables": sent]]
        let stripped = try spec.apply(variant: variant, values: values, to: onlyVariables, providerKind: .openai, promptLabel: "support@3")
        #expect(stripped["metadata"] == nil)
        #expect(stripped["messages"]?.arrayValue?.count == 2)
    }

    @Test func aPromptWithOnlyAUserTemplateNeedsNoClientMessages() throws {
        let spec = try Self.spec(Self.minimal)
        let variant = try #require(spec.variants.first)
        let upstream = try spec.apply(variant: variant, values: [:], to: ["model": "m"], providerKind: .gemini, promptLabel: "p@1")
        #expect(upstream["messages"] == [["role": "user", "content": "hi"]])
        #expect(upstream["tools"] == nil)
    }

    @Test func promptToolsConflictWithClientTools() throws {
        let spec = try Self.spec(Self.support)
        let variant = try #require(spec.variants.first)
        let values = try spec.resolveVariables(["customer": "Ada"], prompt: "support@3")
        let body: [String: JSONValue] = [
            "messages": [["role": "user", "content": "hi"]],
            "tools": [["type": "function", "function": ["name": "mine"]]],
        ]
        let error = #expect(throws: APIError.self) {
            try spec.apply(variant: variant, values: values, to: body, providerKind: .openai, promptLabel: "support@3")
        }
        #expect(error?.code == "tools_conflict_with_prompt")
        #expect(error?.status == 400)
        #expect(error?.param == "tools")

        // A prompt without tools leaves the client's tools alone.
        let plain = try Self.spec(Self.minimal)
        let kept = try plain.apply(variant: plain.variants[0], values: [:], to: body, providerKind: .openai, promptLabel: "p@1")
        #expect(kept["tools"] == body["tools"])
    }

    @Test func toolNamesAndArgumentsAreMappedPerProvider() throws {
        let spec = try Self.spec(Self.support)
        let variant = try #require(spec.variants.first)
        let values = try spec.resolveVariables(["customer": "Ada"], prompt: "support@3")
        let body: [String: JSONValue] = [
            "messages": [["role": "user", "content": "where is my order?"]],
            "tool_choice": ["type": "function", "function": ["name": "lookup_order"]],
        ]

        let anthropic = try spec.apply(variant: variant, values: values, to: body, providerKind: .anthropic, promptLabel: "support@3")
        let tools = try #require(anthropic["tools"]?.arrayValue)
        #expect(tools.count == 2)
        #expect(tools[0]["type"] == "function")
        #expect(tools[0]["function"]?["name"] == "lookupOrder")
        #expect(tools[0]["function"]?["description"] == "Find an order")
        let properties = try #require(tools[0]["function"]?["parameters"]?["properties"]?.objectValue)
        #expect(Set(properties.keys) == ["orderId", "verbose"])
        #expect(tools[0]["function"]?["parameters"]?["required"] == ["orderId"])
        #expect(tools[1]["function"]?["name"] == "refund")
        #expect(tools[1]["function"]?["description"] == nil)
        #expect(anthropic["tool_choice"]?["function"]?["name"] == "lookupOrder")

        let openai = try spec.apply(variant: variant, values: values, to: body, providerKind: .openai, promptLabel: "support@3")
        let openaiTools = try #require(openai["tools"]?.arrayValue)
        #expect(openaiTools[0]["function"]?["name"] == "lookup_order")
        #expect(openaiTools[0]["function"]?["parameters"] == spec.tools[0].parameters)
        #expect(openai["tool_choice"]?["function"]?["name"] == "lookup_order")

        #expect(spec.hasArgumentMapping)
        #expect(spec.hasArgumentMapping(for: .anthropic))
        #expect(!spec.hasArgumentMapping(for: .openai))
        #expect(spec.canonicalToolName("lookupOrder", providerKind: .anthropic) == "lookup_order")
        #expect(spec.canonicalToolName("refund", providerKind: .anthropic) == "refund")
        #expect(spec.canonicalToolName("other", providerKind: .anthropic) == "other")
        #expect(spec.canonicalToolName("lookupOrder", providerKind: .openai) == "lookupOrder")
    }

    @Test func toolCallsInACompletionGetTheCanonicalNamesBack() throws {
        let spec = try Self.spec(Self.support)
        let completion = try Self.json(
            #"""
            {"id": "c", "object": "chat.completion", "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": null,
              "tool_calls": [
                {"id": "t1", "type": "function", "function": {"name": "lookupOrder", "arguments": "{\"orderId\": \"A-1\", \"verbose\": true}"}},
                {"id": "t2", "type": "function", "function": {"name": "lookupOrder", "arguments": "{oops"}},
                {"id": "t3", "type": "function", "function": {"name": "refund", "arguments": "{}"}}
              ]}}]}
            """#
        )
        let canonical = spec.canonicalizeToolCalls(in: completion, providerKind: .anthropic)
        let calls = try #require(canonical["choices"]?[0]?["message"]?["tool_calls"]?.arrayValue)
        #expect(calls[0]["function"]?["name"] == "lookup_order")
        let arguments = try #require(calls[0]["function"]?["arguments"]?.stringValue)
        #expect(try JSONValue(parsing: arguments.utf8) == ["order_id": "A-1", "verbose": true])
        #expect(calls[0]["id"] == "t1")
        #expect(calls[1]["function"]?["name"] == "lookup_order")
        #expect(calls[1]["function"]?["arguments"] == "{oops")
        #expect(calls[2] == completion["choices"]?[0]?["message"]?["tool_calls"]?[2])
        #expect(canonical["id"] == "c")

        // Nothing to map for OpenAI: the completion is returned as it came.
        #expect(spec.canonicalizeToolCalls(in: completion, providerKind: .openai) == completion)
    }

    @Test func toolCallsInTheClientsHistoryAreSentInTheProvidersNames() throws {
        let spec = try Self.spec(Self.support)
        let variant = try #require(spec.variants.first)
        let values = try spec.resolveVariables(["customer": "Ada"], prompt: "support@3")
        let history: [String: JSONValue] = [
            "messages": [
                ["role": "user", "content": "where is A-1?"],
                [
                    "role": "assistant",
                    "tool_calls": [["id": "t1", "type": "function", "function": ["name": "lookup_order", "arguments": #"{"order_id":"A-1"}"#]]],
                ],
                ["role": "tool", "tool_call_id": "t1", "content": "shipped"],
            ]
        ]
        let upstream = try spec.apply(variant: variant, values: values, to: history, providerKind: .anthropic, promptLabel: "support@3")
        let messages = try #require(upstream["messages"]?.arrayValue)
        #expect(messages.count == 5)
        let call = try #require(messages[2]["tool_calls"]?[0]?["function"])
        #expect(call["name"] == "lookupOrder")
        #expect(call["arguments"] == #"{"orderId":"A-1"}"#)
    }

    @Test func outputTextReadsTheFirstChoice() throws {
        let text = try Self.json(#"{"choices": [{"message": {"role": "assistant", "content": "{\"a\": 1}"}}]}"#)
        let null = try Self.json(#"{"choices": [{"message": {"role": "assistant", "content": null}}]}"#)
        let empty = try Self.json(#"{"choices": []}"#)
        #expect(outputText(ofCompletion: text) == #"{"a": 1}"#)
        #expect(outputText(ofCompletion: null) == nil)
        #expect(outputText(ofCompletion: empty) == nil)
    }

}
