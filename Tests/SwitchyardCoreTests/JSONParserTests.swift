import Foundation
import Testing

@testable import SwitchyardCore

struct JSONParserTests {
    static let documents = [
        #"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"stream":true,"temperature":0.7,"seed":12345678901,"stop":null}"#,
        #"[1,-2,3.5,-0.25,2E-2,0,-0,true,false,null,"",{}, [] ]"#,
        #"{"esc":"q\"b\\s\/n\nt\tr\rb\bf\fu\u00e9\ud83d\ude00","utf8":"héllo 😀 日本"}"#,
        "  \n\t{ \"a\" : [ 1 , { \"b\" : null } ] }  ",
        #""just a string""#,
        "42",
    ]

    @Test(arguments: documents)
    func agreesWithFoundation(text: String) throws {
        let ours = try JSONValue(parsing: Array(text.utf8))
        let foundation = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
        #expect(ours == foundation)
        // And what we write, both parse back to the same value.
        let written = ours.serialized()
        #expect(try JSONValue(parsing: written) == ours)
        #expect(try JSONDecoder().decode(JSONValue.self, from: Data(written)) == ours)
    }

    @Test func decodesEscapesAndSurrogates() throws {
        let value = try JSONValue(parsing: Array(#"{"s":"a\u00e9\ud83d\ude00\n"}"#.utf8))
        #expect(value["s"] == "aé😀\n")
    }

    @Test func keepsIntegersExactAndDoublesAsDoubles() throws {
        let value = try JSONValue(parsing: Array(#"[9007199254740993, 1.0, 1e2, -7]"#.utf8))
        #expect(value == [.int(9_007_199_254_740_993), .double(1), .double(100), .int(-7)])
    }

    @Test(arguments: [
        "", "{", "}", "[1,]", "{\"a\":1,}", "{a:1}", "[01]", "[1.]", "[.5]", "[1e]", "[-]", "tru", "nul", "\"unterminated",
        "\"tab\there\"", "\"\\x\"", "\"\\ud800\"", "\"\\udc00\"", "[1] 2", "{\"a\" 1}", "[1e999]", "\"\\u12\"",
    ])
    func rejectsMalformedInput(text: String) {
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: Array(text.utf8)) }
    }

    @Test func refusesDeepNestingInsteadOfCrashing() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: Array(deep.utf8)) }
        let fine = String(repeating: "[", count: 200) + String(repeating: "]", count: 200)
        #expect((try? JSONValue(parsing: Array(fine.utf8))) != nil)
    }

    @Test func writesEscapedStringsAndSortedKeys() {
        let value: JSONValue = ["b": "q\"\\\n\u{01}/é", "a": [1, 2.5, nil, true]]
        #expect(String(decoding: value.serialized(sortedKeys: true), as: UTF8.self) == #"{"a":[1,2.5,null,true],"b":"q\"\\\n\u0001/é"}"#)
    }
}
