import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import SwitchyardCLI
import SwitchyardControl
import SwitchyardCore
import SwitchyardTesting
import Testing

/// `docs/openapi.yaml` and the served admin API describe the same operations.
struct OpenAPITests {
    static let methods: Set<String> = ["get", "put", "post", "delete", "patch"]

    /// (METHOD, path) pairs of the spec, read from its `paths:` block (two-space path keys,
    /// four-space method keys).
    static func documented() throws -> Set<String> {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("docs/openapi.yaml"), encoding: .utf8)
        var operations = Set<String>()
        var inPaths = false
        var currentPath: String?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("paths:") {
                inPaths = true
                continue
            }
            guard inPaths else { continue }
            if let first = line.first, first != " ", first != "#" { break }
            if line.hasPrefix("  /"), line.hasSuffix(":") {
                currentPath = String(line.dropFirst(2).dropLast())
            } else if line.hasPrefix("    "), !line.hasPrefix("     "), let path = currentPath {
                let key = line.dropFirst(4).split(separator: ":").first.map(String.init) ?? ""
                if Self.methods.contains(key) { operations.insert("\(key.uppercased()) \(path)") }
            }
        }
        return operations
    }

    @Test func specAndImplementationListTheSameOperations() throws {
        let documented = try Self.documented()
        let served = Set(AdminAPI.endpoints.map { "\($0.method) \($0.path)" })
        #expect(!documented.isEmpty)
        #expect(documented.subtracting(served).sorted() == [], "documented but not served")
        #expect(served.subtracting(documented).sorted() == [], "served but not documented")
    }

    /// Every listed operation is really routed: none answers "unknown path" or 405.
    @Test func everyListedOperationIsRouted() async throws {
        try await Fixture.with { fixture in
            try await fixture.seed()
            try await fixture.route("chat", "good")
            let (_, keys) = try await fixture.admin.send(.GET, "/admin/v1/tenants/acme/keys")
            let keyID = try #require(keys["data"]?[0]?["id"]?.stringValue)
            let values = [
                "{tenant}": "acme", "{key_id}": keyID, "{provider}": "mock", "{model}": "good", "{alias}": "chat", "{revision}": "1",
            ]
            // Deletes last, so they do not remove what other operations need.
            let operations = AdminAPI.endpoints.sorted { ($0.method == "DELETE" ? 1 : 0) < ($1.method == "DELETE" ? 1 : 0) }
            for (method, template) in operations {
                var path = template
                for (placeholder, value) in values { path = path.replacingOccurrences(of: placeholder, with: value) }
                var request = HTTPClientRequest(url: fixture.control.url + path)
                request.method = HTTPMethod(rawValue: method)
                request.headers.add(name: "authorization", value: "Bearer \(fixture.secrets.adminToken)")
                if method == "POST" || method == "PUT" { request.body = .bytes(.init(string: "{}")) }
                let response = try await fixture.http.execute(request, timeout: .seconds(10))
                let body = String(buffer: try await response.body.collect(upTo: 1 << 20))
                #expect(response.status != .methodNotAllowed, "\(method) \(template)")
                #expect(!body.contains("unknown_path"), "\(method) \(template) is not routed")
                #expect(response.status.code < 500, "\(method) \(template): \(body)")
            }
        }
    }
}
