import Foundation
public import HTTPTypes
public import Hummingbird
import NIOCore
public import SwitchyardCore

/// An admin API error: `{"error":{"code","message","field"}}` with the right status.
public struct AdminError: Error, HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    public var field: String?
    /// Extra response headers (e.g. `Allow` on 405).
    public var headers: HTTPFields

    public init(_ status: HTTPResponse.Status, code: String, message: String, field: String? = nil, headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers
    }

    public static func invalid(_ field: String, _ message: String) -> AdminError {
        AdminError(.unprocessableContent, code: "invalid_field", message: message, field: field)
    }

    public init(_ error: FieldError) {
        self = .invalid(error.field, error.message)
    }

    public static func notFound(_ message: String) -> AdminError {
        AdminError(.notFound, code: "not_found", message: message)
    }

    public static func conflict(_ message: String) -> AdminError {
        AdminError(.conflict, code: "conflict", message: message)
    }

    public static let invalidJSON = AdminError(.badRequest, code: "invalid_json", message: "The request body is not valid JSON.")

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let body: JSONValue = [
            "error": [
                "code": .string(self.code), "message": .string(self.message), "field": self.field.map(JSONValue.string) ?? .null,
            ]
        ]
        return Response.json(body, status: self.status, headers: self.headers)
    }
}

extension Response {
    /// A JSON response from a `JSONValue`.
    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var headers = headers
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: value.serialized(sortedKeys: true))))
    }
}
