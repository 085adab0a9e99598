public import SwitchyardCore

/// A request or response that cannot be expressed in the other wire format.
///
/// On the request side it becomes a 400 for the client (the request is the problem, whichever
/// target serves it); on the response side it is an upstream fault (`502`).
public struct TranslationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The JSON path of the offending field in the input, e.g. `messages[2].content[0].type`.
    public var param: String?
    public var message: String

    public init(_ message: String, param: String? = nil) {
        self.message = message
        self.param = param
    }

    /// The message of a `TranslationError`, or a description of any other error.
    public static func describe(_ error: any Error) -> String {
        (error as? TranslationError)?.message ?? String(describing: error)
    }

    public var description: String { self.param.map { "\($0): \(self.message)" } ?? self.message }

    /// The client-facing error for an untranslatable request.
    public var apiError: APIError {
        .invalidRequest(self.message, param: self.param, code: "unsupported_by_target")
    }
}
