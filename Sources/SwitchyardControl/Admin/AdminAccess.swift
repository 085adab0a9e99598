import Crypto
import Foundation
import Hummingbird
import SwitchyardCore
import SwitchyardWire

/// The caller of an admin request: its scope, role and the name it signs audit entries with.
struct AdminPrincipal: Sendable, Hashable {
    var scope: AdminScope
    var role: AdminRole
    var actor: String
    /// The token's id (nil for the bootstrap token from the control plane's configuration).
    var tokenID: String?

    /// The bootstrap token: platform owner.
    static let bootstrap = AdminPrincipal(scope: .platform, role: .owner, actor: "admin", tokenID: nil)
    /// What a handler sees if it ever runs without the middleware: a viewer of no tenant, so it
    /// fails closed (404 on tenants, 403 elsewhere).
    static let nobody = AdminPrincipal(scope: .tenant(""), role: .viewer, actor: "anonymous", tokenID: nil)

    /// Set by ``AdminAuthMiddleware`` for the handler it calls.
    @TaskLocal static var current: AdminPrincipal?
}

/// What a handler is about to do.
enum AdminNeed: Sendable {
    case read
    case write
    /// Create or revoke admin tokens.
    case manageTokens

    var minimumRole: AdminRole {
        switch self {
        case .read: .viewer
        case .write: .editor
        case .manageTokens: .owner
        }
    }
}

/// Authenticates `/admin/v1` requests: the bootstrap token from the configuration (compared as
/// a digest, so timing does not reveal how much of it matched) or a stored admin token (looked
/// up by its SHA-256). 401 without a bearer token, 403 with an unknown, revoked or expired one.
struct AdminAuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let bootstrapDigest: SHA256Digest
    let store: ConfigStore

    init(bootstrapToken: String, store: ConfigStore) {
        self.bootstrapDigest = SHA256.hash(data: Data(bootstrapToken.utf8))
        self.store = store
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        // The scheme is case-insensitive (RFC 9110 §11.1).
        guard let header = request.headers[.authorization], header.utf8.count > 7, header.prefix(7).lowercased() == "bearer " else {
            throw AdminError(.unauthorized, code: "unauthenticated", message: "Send the admin token as 'Authorization: Bearer <token>'.")
        }
        let token = header.dropFirst(7)
        let principal: AdminPrincipal
        if SHA256.hash(data: Data(token.utf8)) == self.bootstrapDigest {
            principal = .bootstrap
        } else if token.hasPrefix(AdminTokenFormat.marker), token.utf8.count <= 128,
            let record = try await self.store.activeAdminToken(secretHash: Hashing.sha256Hex(Data(token.utf8)))
        {
            principal = AdminPrincipal(scope: record.scope, role: record.role, actor: record.actor, tokenID: record.id)
        } else {
            throw AdminError(.forbidden, code: "forbidden", message: "The admin token is not valid.")
        }
        return try await AdminPrincipal.$current.withValue(principal) { try await next(request, context) }
    }
}

extension AdminAPI {
    /// The caller of the current request.
    var principal: AdminPrincipal { AdminPrincipal.current ?? .nobody }

    /// The audit actor of the current request.
    var actor: String { self.principal.actor }

    /// Checks the caller may do `need` to a platform-wide object (providers, models, nodes,
    /// tenants as a whole, platform tokens). Tenant tokens are refused with 403: these objects
    /// belong to no tenant, so the refusal reveals nothing about another tenant.
    func authorizePlatform(_ need: AdminNeed) throws {
        let principal = self.principal
        guard principal.scope == .platform else {
            throw AdminError(
                .forbidden,
                code: "forbidden",
                message: "This token is scoped to tenant '\(principal.scope.tenant ?? "")'; platform objects need a platform token."
            )
        }
        try Self.requireRole(principal, need)
    }

    /// Checks the caller may do `need` inside `tenant`. A token of another tenant gets exactly the
    /// answer a tenant that does not exist gets (404), before anything is looked up, so neither
    /// the answer nor its timing tells whether the tenant exists.
    func authorizeTenant(_ tenant: String, _ need: AdminNeed) throws {
        let principal = self.principal
        if case .tenant(let own) = principal.scope, own != tenant {
            throw Self.tenantNotFound(tenant)
        }
        try Self.requireRole(principal, need)
    }

    static func tenantNotFound(_ tenant: String) -> AdminError {
        AdminError.notFound("tenant '\(tenant)' does not exist")
    }

    static func requireRole(_ principal: AdminPrincipal, _ need: AdminNeed) throws {
        guard principal.role >= need.minimumRole else {
            let what: String =
                switch need {
                case .read: "read"
                case .write: "change config"
                case .manageTokens: "manage admin tokens"
                }
            throw AdminError(
                .forbidden,
                code: "forbidden",
                message: "This token's role '\(principal.role.rawValue)' may not \(what); it needs '\(need.minimumRole.rawValue)' or higher."
            )
        }
    }
}
