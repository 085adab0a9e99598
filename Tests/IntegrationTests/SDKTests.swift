import Foundation
import NIOCore
import NIOFoundationCompat
import SwitchyardCLI
import SwitchyardControl
import SwitchyardTesting
import Testing

/// The official `openai` Python SDK chats, streams and calls tools through a node (and so
/// checks the mock provider's wire format too). `scripts/test.sh` installs the SDK and sets
/// SWITCHYARD_REQUIRE_SDK=1, so in CI a missing SDK fails instead of skipping.
struct SDKTests {
    static let required = ProcessInfo.processInfo.environment["SWITCHYARD_REQUIRE_SDK"] == "1"

    static var sdkAvailable: Bool {
        (try? Subprocess.run("/usr/bin/env", ["python3", "-c", "import openai"])) != nil
    }

    @Test(.enabled(if: required || sdkAvailable, "the openai Python SDK is not installed (pip install -r Tests/sdk/requirements.txt)"))
    func openAIPythonSDKWorksThroughANode() async throws {
        try await Fixture.with(tokenLatencyMs: 5) { fixture in
            let key = try await fixture.seed()
            try await fixture.route("sdk-chat", "good")
            let node = try await fixture.node()
            #expect(await fixture.waitForRoute(node, key: key, alias: "sdk-chat", timeout: .seconds(5)))
            let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            var environment = ProcessInfo.processInfo.environment
            environment["SWITCHYARD_BASE_URL"] = node.url + "/v1"
            environment["SWITCHYARD_KEY"] = key
            environment["SWITCHYARD_MODEL"] = "sdk-chat"
            let script = root.appendingPathComponent("sdk/openai_sdk_check.py").path
            let output: String
            do {
                output = try await Task.detached {
                    try Subprocess.run("/usr/bin/env", ["python3", script], environment: environment)
                }.value
            } catch {
                Issue.record("openai SDK check failed: \(error)")
                await node.stop()
                return
            }
            #expect(output.contains("9 passed, 0 failed"), "\(output)")
            await node.stop()
        }
    }
}
