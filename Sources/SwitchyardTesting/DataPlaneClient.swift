public import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
public import NIOHTTP1
public import SwitchyardCore

/// What a data-plane call answered.
public struct DataPlaneResponse: Sendable {
    public var status: Int
    public var headers: [String: String]
    public var body: String
    public var json: JSONValue { (try? JSONDecoder().decode(JSONValue.self, from: Data(self.body.utf8))) ?? .null }
}

/// Sends a chat completion (or any request) to a node.
public func callNode(
    _ client: HTTPClient,
    _ url: String,
    key: String?,
    body: String,
    method: HTTPMethod = .POST,
    path: String = "/v1/chat/completions",
    headers extra: [String: String] = [:]
) async throws -> DataPlaneResponse {
    var request = HTTPClientRequest(url: url + path)
    request.method = method
    if let key { request.headers.add(name: "authorization", value: "Bearer \(key)") }
    for (name, value) in extra.sorted(by: { $0.key < $1.key }) { request.headers.add(name: name, value: value) }
    request.headers.add(name: "content-type", value: "application/json")
    if method == .POST { request.body = .bytes(ByteBuffer(string: body)) }
    let response = try await client.execute(request, timeout: .seconds(30))
    let data = try await response.body.collect(upTo: 16 << 20)
    var headers: [String: String] = [:]
    for header in response.headers { headers[header.name.lowercased()] = header.value }
    return DataPlaneResponse(status: Int(response.status.code), headers: headers, body: String(buffer: data))
}

/// A chat body for `model` with one user message.
public func chatBody(model: String, message: String = "hello", stream: Bool = false, extra: String = "") -> String {
    #"{"model":"\#(model)","messages":[{"role":"user","content":"\#(message)"}],"stream":\#(stream)\#(extra)}"#
}
