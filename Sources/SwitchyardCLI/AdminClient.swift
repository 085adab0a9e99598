public import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
public import NIOHTTP1
public import SwitchyardCore

/// A small client of the admin REST API (the CLI talks to the control plane only through it).
public struct AdminClient: Sendable {
    public struct Failure: Error, CustomStringConvertible {
        public var status: Int
        public var body: String
        public var description: String { "admin API answered \(self.status): \(self.body)" }
    }

    public let client: HTTPClient
    public let baseURL: String
    public let token: String

    public init(client: HTTPClient, baseURL: String, token: String) {
        self.client = client
        self.baseURL = baseURL
        self.token = token
    }

    /// Sends a request; throws `Failure` unless the status is 2xx or in `allow`.
    @discardableResult
    public func send(_ method: HTTPMethod, _ path: String, _ body: JSONValue? = nil, allow: Set<Int> = []) async throws -> (Int, JSONValue) {
        var request = HTTPClientRequest(url: self.baseURL + path)
        request.method = method
        request.headers.add(name: "authorization", value: "Bearer \(self.token)")
        if let body {
            request.headers.add(name: "content-type", value: "application/json")
            request.body = .bytes(ByteBuffer(data: try JSONEncoder().encode(body)))
        }
        let response = try await self.client.execute(request, timeout: .seconds(30))
        let data = Data(buffer: try await response.body.collect(upTo: 16 << 20))
        let status = Int(response.status.code)
        // Our parser keeps `10.0` a double (JSONDecoder would make it 10), so numbers compare as written.
        let json = (try? JSONValue(parsing: data)) ?? .null
        guard (200..<300).contains(status) || allow.contains(status) else {
            throw Failure(status: status, body: String(decoding: data, as: UTF8.self))
        }
        return (status, json)
    }
}

/// Polls `url` until it answers 200 or `timeout` passes.
func waitUntilHealthy(_ client: HTTPClient, _ url: String, timeout: Duration) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if let response = try? await client.execute(HTTPClientRequest(url: url), timeout: .seconds(2)) {
            _ = try? await response.body.collect(upTo: 1 << 20)
            if response.status == .ok { return true }
        }
        try? await Task.sleep(for: .milliseconds(100))
    }
    return false
}
