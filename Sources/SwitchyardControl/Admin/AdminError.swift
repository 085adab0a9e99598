import Foundation
public import HTTPTypes
public import Hummingbird
import NIOCore
import SwitchyardCore

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

/// Reads an admin request body field by field, with field paths in every error, and rejects
/// fields it does not know (a typo must not be silently ignored).
struct InputReader {
    let fields: [String: JSONValue]
    let path: String

    init(_ value: JSONValue, path: String = "", allowed: Set<String>) throws(AdminError) {
        guard case .object(let fields) = value else {
            throw .invalid(path.isEmpty ? "$" : path, "must be a JSON object")
        }
        for key in fields.keys.sorted() where !allowed.contains(key) {
            throw .invalid(Self.join(path, key), "unknown field")
        }
        self.fields = fields
        self.path = path
    }

    static func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    func field(_ key: String) -> String { Self.join(self.path, key) }

    func value(_ key: String) -> JSONValue? {
        guard let value = self.fields[key], !value.isNull else { return nil }
        return value
    }

    func string(_ key: String) throws(AdminError) -> String? {
        guard let value = self.value(key) else { return nil }
        guard let string = value.stringValue else { throw .invalid(self.field(key), "must be a string, not \(value.typeName)") }
        // PostgreSQL text cannot hold NUL; refuse it here rather than fail in the database.
        guard !string.utf8.contains(0) else { throw .invalid(self.field(key), "must not contain NUL characters") }
        return string
    }

    func requiredString(_ key: String) throws(AdminError) -> String {
        guard let string = try self.string(key) else { throw .invalid(self.field(key), "is required") }
        return string
    }

    func number(_ key: String) throws(AdminError) -> Double? {
        guard let value = self.value(key) else { return nil }
        switch value {
        case .int(let number): return Double(number)
        case .double(let number): return number
        default: throw .invalid(self.field(key), "must be a number, not \(value.typeName)")
        }
    }

    func integer(_ key: String, in range: ClosedRange<Int>) throws(AdminError) -> Int? {
        guard let value = self.value(key) else { return nil }
        guard let number = value.intValue else { throw .invalid(self.field(key), "must be an integer, not \(value.typeName)") }
        guard range.contains(Int(number)) else {
            throw .invalid(self.field(key), "must be between \(range.lowerBound) and \(range.upperBound)")
        }
        return Int(number)
    }

    func object(_ key: String, allowed: Set<String>) throws(AdminError) -> InputReader? {
        guard let value = self.value(key) else { return nil }
        return try InputReader(value, path: self.field(key), allowed: allowed)
    }

    func array(_ key: String) throws(AdminError) -> [JSONValue]? {
        guard let value = self.value(key) else { return nil }
        guard let array = value.arrayValue else { throw .invalid(self.field(key), "must be an array, not \(value.typeName)") }
        return array
    }
}
