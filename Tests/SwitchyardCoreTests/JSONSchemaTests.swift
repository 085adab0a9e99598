import Testing

@testable import SwitchyardCore

/// The JSON Schema subset used for prompt response schemas: parsing with keyword paths and
/// validation with readable errors.
struct JSONSchemaTests {
    static func schema(_ text: String) throws -> JSONSchema {
        try JSONSchema(try JSONValue(parsing: text.utf8))
    }

    static let validationCases: [(String, String, Bool)] = [
        (#"{"type": "integer"}"#, "3", true),
        (#"{"type": "integer"}"#, "3.0", true),
        (#"{"type": "integer"}"#, "-0", true),
        (#"{"type": "integer"}"#, "3.5", false),
        (#"{"type": "integer"}"#, #""3""#, false),
        (#"{"type": "number"}"#, "3", true),
        (#"{"type": "number"}"#, "3.5", true),
        (#"{"type": "number"}"#, "1e3", true),
        (#"{"type": "number"}"#, #""x""#, false),
        (#"{"type": "number"}"#, "true", false),
        (#"{"type": "boolean"}"#, "false", true),
        (#"{"type": "boolean"}"#, "0", false),
        (#"{"type": "null"}"#, "null", true),
        (#"{"type": "null"}"#, "{}", false),
        (#"{"type": ["string", "null"]}"#, "null", true),
        (#"{"type": ["string", "null"]}"#, #""a""#, true),
        (#"{"type": ["string", "null"]}"#, "1", false),
        (#"{"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}"#, #"{"a": 1}"#, true),
        (#"{"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}"#, #"{"a": 1, "b": 2}"#, true),
        (#"{"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}"#, #"{}"#, false),
        (#"{"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}"#, "[]", false),
        (#"{"type": "object", "properties": {"a": {}}, "additionalProperties": false}"#, #"{"a": [1]}"#, true),
        (#"{"type": "object", "properties": {"a": {}}, "additionalProperties": false}"#, #"{"a": 1, "b": 2}"#, false),
        (#"{"type": "object", "additionalProperties": true}"#, #"{"b": 2}"#, true),
        (#"{"type": "object", "additionalProperties": {"type": "string"}}"#, #"{"x": "y"}"#, true),
        (#"{"type": "object", "additionalProperties": {"type": "string"}}"#, #"{"x": 1}"#, false),
        (#"{"properties": {"x": false}}"#, #"{}"#, true),
        (#"{"properties": {"x": false}}"#, #"{"x": 1}"#, false),
        (#"{"type": "array", "items": {"type": "array", "items": {"type": "integer"}, "maxItems": 2}, "minItems": 1}"#, "[[1, 2], [3]]", true),
        (#"{"type": "array", "items": {"type": "array", "items": {"type": "integer"}, "maxItems": 2}, "minItems": 1}"#, "[]", false),
        (#"{"type": "array", "items": {"type": "array", "items": {"type": "integer"}, "maxItems": 2}, "minItems": 1}"#, "[[1, 2, 3]]", false),
        (#"{"type": "array", "items": {"type": "array", "items": {"type": "integer"}, "maxItems": 2}, "minItems": 1}"#, #"[[1, "a"]]"#, false),
        (#"{"type": "array", "items": {"type": "array", "items": {"type": "integer"}, "maxItems": 2}, "minItems": 1}"#, "[1]", false),
        (#"{"anyOf": [{"type": "string", "maxLength": 3}, {"type": "integer", "minimum": 10}]}"#, #""abc""#, true),
        (#"{"anyOf": [{"type": "string", "maxLength": 3}, {"type": "integer", "minimum": 10}]}"#, "12", true),
        (#"{"anyOf": [{"type": "string", "maxLength": 3}, {"type": "integer", "minimum": 10}]}"#, #""abcd""#, false),
        (#"{"anyOf": [{"type": "string", "maxLength": 3}, {"type": "integer", "minimum": 10}]}"#, "5", false),
        (#"{"anyOf": [{"type": "string", "maxLength": 3}, {"type": "integer", "minimum": 10}]}"#, "true", false),
        (#"{"oneOf": [{"type": "integer"}, {"type": "number"}]}"#, "1.5", true),
        (#"{"oneOf": [{"type": "integer"}, {"type": "number"}]}"#, "2", false),
        (#"{"oneOf": [{"type": "integer"}, {"type": "number"}]}"#, #""2""#, false),
        (#"{"allOf": [{"minimum": 0}, {"maximum": 10}]}"#, "5", true),
        (#"{"allOf": [{"minimum": 0}, {"maximum": 10}]}"#, "11", false),
        (#"{"allOf": [{"minimum": 0}, {"maximum": 10}]}"#, #""not a number""#, true),
        (#"{"exclusiveMinimum": 0, "exclusiveMaximum": 1}"#, "0", false),
        (#"{"exclusiveMinimum": 0, "exclusiveMaximum": 1}"#, "0.5", true),
        (#"{"exclusiveMinimum": 0, "exclusiveMaximum": 1}"#, "1", false),
        (#"{"enum": ["a", 1, null]}"#, #""a""#, true),
        (#"{"enum": ["a", 1, null]}"#, "1.0", true),
        (#"{"enum": ["a", 1, null]}"#, "null", true),
        (#"{"enum": ["a", 1, null]}"#, #""b""#, false),
        (#"{"const": {"k": [1, 2]}}"#, #"{"k": [1, 2.0]}"#, true),
        (#"{"const": {"k": [1, 2]}}"#, #"{"k": [2, 1]}"#, false),
        (#"{"const": null}"#, "null", true),
        (#"{"const": null}"#, "0", false),
        (#"{"type": "string", "minLength": 2, "maxLength": 3}"#, #""\u00e9a""#, true),
        (#"{"type": "string", "minLength": 2, "maxLength": 3}"#, #""\u00e9""#, false),
        (#"{"type": "string", "minLength": 2, "maxLength": 3}"#, #""abcd""#, false),
        ("true", #"{"anything": [1]}"#, true),
        ("false", "1", false),
        (#"{"title": "T", "description": "d", "$schema": "https://json-schema.org/draft/2020-12/schema", "default": 1, "examples": [1]}"#, "1", true),
    ]

    @Test(arguments: JSONSchemaTests.validationCases)
    func validation(schema: String, value: String, valid: Bool) throws {
        let errors = try Self.schema(schema).validate(try JSONValue(parsing: value.utf8))
        #expect(errors.isEmpty == valid, "\(schema) against \(value): \(errors)")
    }

    @Test func errorsNameThePathAndTheProblem() throws {
        let schema = try Self.schema(
            #"""
            {"type": "object", "required": ["items", "total"], "additionalProperties": false,
             "properties": {
               "items": {"type": "array", "items": {"type": "object", "properties": {"price": {"type": "number"}}}},
               "total": {"type": "number", "minimum": 0},
               "tone": {"enum": ["formal", "casual"]},
               "odd key": {"type": "string"}}}
            """#
        )
        let oneBadPrice = try JSONValue(parsing: #"{"items": [{"price": 1}, {"price": 2.5}, {"price": "3"}], "total": 1}"#.utf8)
        #expect(schema.validate(oneBadPrice) == ["$.items[2].price: expected number, got string"])
        let manyProblems = try JSONValue(parsing: #"{"items": [], "total": -1, "tone": "rude", "odd key": 1, "extra": true}"#.utf8)
        #expect(
            schema.validate(manyProblems) == [
                "$: unexpected property 'extra'",
                #"$["odd key"]: expected string, got number"#,
                #"$.tone: must be one of "formal", "casual""#,
                "$.total: must be at least 0",
            ]
        )
        #expect(schema.validate([:]) == ["$: missing required property 'items'", "$: missing required property 'total'"])
        #expect(schema.validate(.string("x")) == ["$: expected object, got string"])
    }

    @Test func anyOfAndOneOfExplainTheMismatch() throws {
        let anyOf = try Self.schema(#"{"anyOf": [{"type": "string"}, {"type": "integer"}]}"#)
        let errors = anyOf.validate(true)
        #expect(errors.count == 1)
        #expect(errors.first?.hasPrefix("$: matches none of the 2 anyOf alternatives") == true)
        #expect(errors.first?.contains("expected string, got boolean") == true)
        let oneOf = try Self.schema(#"{"oneOf": [{"type": "integer"}, {"type": "number"}]}"#)
        #expect(oneOf.validate(2) == ["$: matches 2 of the oneOf alternatives (0, 1); exactly one must match"])
    }

    @Test func atMostTenErrorsAreReported() throws {
        let schema = try Self.schema(#"{"type": "array", "items": {"type": "string"}}"#)
        let errors = schema.validate(.array((0..<15).map { JSONValue.int(Int64($0)) }))
        #expect(errors.count == JSONSchema.maximumErrors)
        #expect(errors.first == "$[0]: expected string, got number")
    }

    static let fencedCases: [(String, [String])] = [
        ("```json\n{\"a\": 1}\n```", []),
        ("```\n{\"a\": 1}\n```\n", []),
        ("  \n{\"a\": 1}  \n", []),
        ("```json\n{\"a\": 1}", []),
        ("```JSON  \r\n{\"a\": 1}\r\n```", []),
        ("```json\n{\"a\": \"x\"}\n```", ["$.a: expected integer, got string"]),
    ]

    @Test(arguments: JSONSchemaTests.fencedCases)
    func textOutputMayBeFenced(text: String, errors: [String]) throws {
        let schema = try Self.schema(#"{"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}"#)
        #expect(schema.validate(text: text) == errors)
    }

    @Test(arguments: ["Sure! {\"a\": 1}", "", "```json\n```", "{\"a\": 1} trailing", "``` {\"a\": 1} ```"])
    func textThatIsNotJSONIsOneError(text: String) throws {
        let schema = try Self.schema(#"{"type": "object"}"#)
        let errors = schema.validate(text: text)
        #expect(errors.count == 1)
        #expect(errors.first?.hasPrefix("not JSON: ") == true, "\(errors)")
    }

    static let badSchemaCases: [(String, String)] = [
        (#"{"type": "object", "pattern": "x"}"#, "response_schema.pattern"),
        (#"{"format": "date"}"#, "response_schema.format"),
        (#"{"properties": {"a": {"type": "strng"}}}"#, "response_schema.properties.a.type"),
        (#"{"type": ["string", "string"]}"#, "response_schema.type[1]"),
        (#"{"type": []}"#, "response_schema.type"),
        (#"{"items": [{"type": "string"}]}"#, "response_schema.items"),
        (#"{"items": {"$ref": "other.json"}}"#, "response_schema.items.$ref"),
        (#"{"anyOf": []}"#, "response_schema.anyOf"),
        (#"{"oneOf": {"type": "string"}}"#, "response_schema.oneOf"),
        (#"{"allOf": [{"type": "string"}, 3]}"#, "response_schema.allOf[1]"),
        (#"{"minItems": -1}"#, "response_schema.minItems"),
        (#"{"maxLength": 1.5}"#, "response_schema.maxLength"),
        (#"{"minLength": 3, "maxLength": 2}"#, "response_schema.maxLength"),
        (#"{"minItems": 3, "maxItems": 2}"#, "response_schema.maxItems"),
        (#"{"required": ["a", "a"]}"#, "response_schema.required[1]"),
        (#"{"required": "a"}"#, "response_schema.required"),
        (#"{"exclusiveMinimum": true}"#, "response_schema.exclusiveMinimum"),
        (#"{"minimum": "0"}"#, "response_schema.minimum"),
        (#"{"enum": []}"#, "response_schema.enum"),
        (#"{"additionalProperties": 3}"#, "response_schema.additionalProperties"),
        (#"{"properties": []}"#, "response_schema.properties"),
        (#""string""#, "response_schema"),
    ]

    @Test(arguments: JSONSchemaTests.badSchemaCases)
    func badSchemasNameTheKeyword(text: String, path: String) throws {
        let error = #expect(throws: FieldError.self) { try Self.schema(text) }
        #expect(error?.field == path, "\(error?.description ?? "no error")")
    }

    @Test func unsupportedKeywordsListWhatIsSupported() throws {
        let error = #expect(throws: FieldError.self) { try Self.schema(#"{"pattern": "^a"}"#) }
        #expect(error?.message.contains("'pattern'") == true)
        #expect(error?.message.contains("anyOf") == true)
    }

    @Test func nestingIsBounded() throws {
        func nested(_ depth: Int) -> String {
            var text = #"{"type": "string"}"#
            for _ in 1..<depth { text = #"{"type": "array", "items": \#(text)}"# }
            return text
        }
        let deepest = try Self.schema(nested(JSONSchema.maximumDepth))
        let shallow = try JSONValue(parsing: "[[[\"a\"]]]".utf8)
        #expect(deepest.validate(shallow).count == 1)
        let error = #expect(throws: FieldError.self) { try Self.schema(nested(JSONSchema.maximumDepth + 1)) }
        #expect(error?.field.hasPrefix("response_schema.items.items") == true)
    }

    @Test func theSchemaIsKeptAsWritten() throws {
        let json = try JSONValue(parsing: #"{"type": "object", "description": "kept", "properties": {"a": {"type": "integer"}}}"#.utf8)
        let schema = try JSONSchema(json)
        #expect(schema.json == json)
        let elsewhere = try JSONSchema(json, path: "variants[0].response_schema")
        #expect(schema == elsewhere)
    }
}
