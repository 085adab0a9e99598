/// An error the data plane returns to a client, in OpenAI's shape:
/// `{"error":{"message":…,"type":…,"param":…,"code":…}}`.
public struct APIError: Error, Sendable, Hashable {
    public var status: Int
    public var type: String
    public var code: String?
    public var param: String?
    public var message: String
    /// Sent as `Retry-After` (seconds) when the client should wait before trying again.
    public var retryAfterSeconds: Int?

    public init(status: Int, type: String, code: String?, param: String? = nil, message: String, retryAfterSeconds: Int? = nil) {
        self.retryAfterSeconds = retryAfterSeconds
        self.status = status
        self.type = type
        self.code = code
        self.param = param
        self.message = message
    }

    public static func invalidRequest(_ message: String, param: String? = nil, code: String? = nil) -> APIError {
        APIError(status: 400, type: "invalid_request_error", code: code, param: param, message: message)
    }

    public static let missingKey = APIError(
        status: 401,
        type: "invalid_request_error",
        code: "invalid_api_key",
        message: "You didn't provide an API key. Send it as 'Authorization: Bearer sk-sy-…' (or 'x-api-key: sk-sy-…')."
    )

    public static let invalidKey = APIError(
        status: 401,
        type: "invalid_request_error",
        code: "invalid_api_key",
        message: "Incorrect API key provided. Keys look like sk-sy-XXXXXXXX-… and are issued by the Switchyard admin API."
    )

    public static let expiredKey = APIError(
        status: 401,
        type: "invalid_request_error",
        code: "invalid_api_key",
        message: "This API key has expired."
    )

    public static let notReady = APIError(
        status: 503,
        type: "service_unavailable",
        code: "not_ready",
        message: "This Switchyard node has no configuration yet; retry shortly."
    )

    public static func unknownModel(_ model: String) -> APIError {
        APIError(
            status: 404,
            type: "invalid_request_error",
            code: "model_not_found",
            param: "model",
            message: "The model '\(model)' does not exist or you do not have access to it."
        )
    }

    /// The body, as JSON text.
    public var json: JSONValue {
        [
            "error": [
                "message": .string(self.message),
                "type": .string(self.type),
                "param": self.param.map(JSONValue.string) ?? .null,
                "code": self.code.map(JSONValue.string) ?? .null,
            ]
        ]
    }
}
