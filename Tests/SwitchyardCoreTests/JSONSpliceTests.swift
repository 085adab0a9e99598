import SwitchyardCore
import Testing

@Suite struct JSONSpliceTests {
    static func splice(_ text: String, _ value: String = "up-model") -> String? {
        JSONSplice.replacingTopLevelString("model", in: Array(text.utf8), with: value).map { String(decoding: $0, as: UTF8.self) }
    }

    @Test(arguments: [
        (#"{"model":"alias","messages":[]}"#, #"{"model":"up-model","messages":[]}"#),
        // Only the top-level member; nested "model" keys, strings mentioning it, escapes elsewhere stay.
        (
            #"{"messages":[{"role":"user","content":"say \"model\": {x}","model":"inner"}],"metadata":{"model":"m"}, "model" : "alias" ,"n":1}"#,
            #"{"messages":[{"role":"user","content":"say \"model\": {x}","model":"inner"}],"metadata":{"model":"m"}, "model" : "up-model" ,"n":1}"#
        ),
        (" \n{\"temperature\":0.5,\"model\":\"a\\\"b\",\"stream\":false}\n", " \n{\"temperature\":0.5,\"model\":\"up-model\",\"stream\":false}\n"),
    ])
    func replacesTheTopLevelModelAndNothingElse(input: String, expected: String) throws {
        let output = try #require(Self.splice(input))
        #expect(output == expected)
        // And it means the same as a decode, rewrite and encode.
        var decoded = try JSONValue(parsing: input.utf8)
        if case .object(var object) = decoded {
            object["model"] = "up-model"
            decoded = .object(object)
        }
        #expect(try JSONValue(parsing: output.utf8) == decoded)
    }

    @Test func theNewValueIsEncoded() throws {
        let output = try #require(Self.splice(#"{"model":"a"}"#, "quote\"and\\slash\u{1}"))
        #expect(try JSONValue(parsing: output.utf8)["model"]?.stringValue == "quote\"and\\slash\u{1}")
    }

    @Test(arguments: [
        #"{"messages":[]}"#,  // no model
        #"{"model":1}"#,  // not a string
        #"{"model":"a","model":"b"}"#,  // twice
        #"{"mod\u0065l":"a"}"#,  // escaped name
        #"["model"]"#,  // not an object
        #"{"model":"a""#,  // cut
    ])
    func declinesWhatItCannotRewriteSafely(input: String) {
        #expect(Self.splice(input) == nil)
    }
}
