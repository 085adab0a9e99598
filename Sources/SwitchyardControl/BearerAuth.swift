import Crypto
import Foundation
import Hummingbird

/// Bearer-token auth: 401 without a bearer token, 403 with a wrong one. The token is compared
/// as a SHA-256 digest, so the comparison time does not depend on how much of it matched.
struct BearerAuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let tokenDigest: SHA256Digest
    let missing: @Sendable () -> any Error
    let wrong: @Sendable () -> any Error

    init(token: String, missing: @escaping @Sendable () -> any Error, wrong: @escaping @Sendable () -> any Error) {
        self.tokenDigest = SHA256.hash(data: Data(token.utf8))
        self.missing = missing
        self.wrong = wrong
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        // The scheme is case-insensitive (RFC 9110 §11.1).
        guard let header = request.headers[.authorization], header.utf8.count > 7, header.prefix(7).lowercased() == "bearer "
        else { throw self.missing() }
        guard SHA256.hash(data: Data(header.dropFirst(7).utf8)) == self.tokenDigest else { throw self.wrong() }
        return try await next(request, context)
    }
}
