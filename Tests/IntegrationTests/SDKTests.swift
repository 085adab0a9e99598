import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import SwitchyardCLI
import SwitchyardControl
import SwitchyardCore
import SwitchyardTesting
import Testing

/// The official `openai` and `anthropic` Python SDKs chat, stream and call tools through a node,
/// each against routes served by an OpenAI-, an Anthropic- and a Gemini-format provider (and so
/// check the mock provider's wire formats and the node's translation too). `scripts/test.sh`
/// installs the SDKs and sets SWITCHYARD_REQUIRE_SDK=1, so in CI a missing SDK fails instead of
/// skipping.
struct SDKTests {
    static let required = ProcessInfo.processInfo.environment["SWITCHYARD_REQUIRE_SDK"] == "1"

    static var sdkAvailable: Bool {
        (try? Subprocess.run("/usr/bin/env", ["python3", "-c", "import openai, anthropic"])) != nil
    }

    /// (script, base URL suffix, model behind the route, checks in the script)
    static let cases: [(String, String, String, Int)] = [
        ("openai_sdk_check.py", "/v1", "good", 10), ("openai_sdk_check.py", "/v1", "claude", 10),
        ("openai_sdk_check.py", "/v1", "gemini", 10), ("anthropic_sdk_check.py", "", "good", 9),
        ("anthropic_sdk_check.py", "", "claude", 9), ("anthropic_sdk_check.py", "", "gemini", 9),
    ]

    @Test(
        .enabled(if: required || sdkAvailable, "the Python SDKs are not installed (pip install -r Tests/sdk/requirements.txt)"),
        .serialized,
        arguments: Self.cases
    )
    func pythonSDKWorksThroughANode(script: String, suffix: String, model: String, checks: Int) async throws {
        try await Fixture.with(tokenLatencyMs: 5) { fixture in
            let key = try await fixture.seed()
            try await fixture.route("sdk-chat", model)
            // A prompt whose user template the mock answers: "mock reply to: Question from <customer>".
            try await fixture.admin.send(
                .POST,
                "/admin/v1/tenants/acme/prompts/sdk-prompt/versions",
                [
                    "variables": ["customer": ["type": "string"]],
                    "variants": [["name": "default", "system": "Be brief.", "user": "Question from {{customer}}"]],
                ]
            )
            try await fixture.route("sdk-prompt", spec: ["default": ["model": .string(model), "prompt": "sdk-prompt@1"]])
            let node = try await fixture.node()
            #expect(await fixture.waitForRoute(node, key: key, alias: "sdk-chat", timeout: .seconds(5)))
            let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            var environment = ProcessInfo.processInfo.environment
            environment["SWITCHYARD_BASE_URL"] = node.url + suffix
            environment["SWITCHYARD_KEY"] = key
            environment["SWITCHYARD_MODEL"] = "sdk-chat"
            let path = root.appendingPathComponent("sdk/\(script)").path
            let output: String
            do {
                output = try await Subprocess.runAsync("/usr/bin/env", ["python3", path], environment: environment)
            } catch {
                Issue.record("\(script) against \(model) failed: \(error)")
                await node.stop()
                return
            }
            #expect(output.contains("\(checks) passed, 0 failed"), "\(output)")
            await node.stop()
        }
    }
}
