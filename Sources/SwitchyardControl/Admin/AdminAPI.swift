import Foundation
import HTTPTypes
public import Hummingbird
import NIOCore
import NIOFoundationCompat
public import SwitchyardCore
import SwitchyardWire

/// The admin REST API under `/admin/v1`. Handlers validate input, call the store, and render
/// records; all SQL stays in `ConfigStore`.
public struct AdminAPI: Sendable {
    let store: ConfigStore
    let masterKey: MasterKey
    let adminToken: String
    /// The nodes' hard limits, enforced on write as well.
    let limits: SnapshotLimits
    static let maxBodyBytes = 1 << 20

    public init(store: ConfigStore, masterKey: MasterKey, adminToken: String, limits: SnapshotLimits = .init()) {
        self.store = store
        self.masterKey = masterKey
        self.adminToken = adminToken
        self.limits = limits
    }

    /// Every route this API serves, as (method, path template). The OpenAPI test compares it with `docs/openapi.yaml`.
    public static let endpoints: [(method: String, path: String)] =
        [
            ("GET", "/admin/v1/config"),
            ("GET", "/admin/v1/tenants"), ("POST", "/admin/v1/tenants"),
            ("GET", "/admin/v1/tenants/{tenant}"), ("PUT", "/admin/v1/tenants/{tenant}"), ("DELETE", "/admin/v1/tenants/{tenant}"),
            ("GET", "/admin/v1/tenants/{tenant}/keys"), ("POST", "/admin/v1/tenants/{tenant}/keys"),
            ("PATCH", "/admin/v1/tenants/{tenant}/keys/{key_id}"), ("DELETE", "/admin/v1/tenants/{tenant}/keys/{key_id}"),
            ("GET", "/admin/v1/providers"), ("POST", "/admin/v1/providers"),
            ("GET", "/admin/v1/providers/{provider}"), ("PUT", "/admin/v1/providers/{provider}"),
            ("DELETE", "/admin/v1/providers/{provider}"),
            ("GET", "/admin/v1/models"), ("POST", "/admin/v1/models"),
            ("GET", "/admin/v1/models/{model}"), ("PUT", "/admin/v1/models/{model}"), ("DELETE", "/admin/v1/models/{model}"),
            ("GET", "/admin/v1/tenants/{tenant}/routes"), ("POST", "/admin/v1/tenants/{tenant}/routes"),
            ("GET", "/admin/v1/tenants/{tenant}/routes/{alias}"), ("PUT", "/admin/v1/tenants/{tenant}/routes/{alias}"),
            ("DELETE", "/admin/v1/tenants/{tenant}/routes/{alias}"),
            ("GET", "/admin/v1/tenants/{tenant}/routes/{alias}/revisions"),
            ("GET", "/admin/v1/tenants/{tenant}/routes/{alias}/revisions/{revision}"),
            ("POST", "/admin/v1/tenants/{tenant}/routes/{alias}/simulate"),
            ("GET", "/admin/v1/nodes"),
            ("GET", "/admin/v1/audit"),
            ("GET", "/admin/v1/whoami"),
            ("GET", "/admin/v1/tokens"), ("POST", "/admin/v1/tokens"), ("DELETE", "/admin/v1/tokens/{token_id}"),
            ("GET", "/admin/v1/tenants/{tenant}/tokens"), ("POST", "/admin/v1/tenants/{tenant}/tokens"),
            ("DELETE", "/admin/v1/tenants/{tenant}/tokens/{token_id}"),
        ] + Self.promptEndpoints + Self.budgetEndpoints + Self.priceEndpoints + Self.webhookEndpoints + Self.canaryEndpoints

    /// The methods `endpoints` serve for a concrete path (empty when no template matches it).
    static func methods(servingPath path: String) -> [String] {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        return Self.endpoints.filter { endpoint in
            let template = endpoint.path.split(separator: "/", omittingEmptySubsequences: true)
            return template.count == parts.count
                && zip(template, parts).allSatisfy { pattern, part in pattern.hasPrefix("{") || pattern == part }
        }.map(\.method)
    }

    public func register(on router: Router<some RequestContext>) {
        let admin = router.group("admin/v1").add(middleware: AdminAuthMiddleware(bootstrapToken: self.adminToken, store: self.store))
        admin.get("whoami") { _, _ in Self.render(self.principal) }
        admin.get("config") { _, _ in Response.json(["version": .int(Int64(try await self.store.currentVersion()))]) }

        admin.get("tenants") { _, _ in
            let own = self.principal.scope.tenant
            return Self.list(try await self.store.listTenants().filter { own == nil || $0.name == own }.map(Self.render))
        }
        admin.post("tenants") { request, context in
            try self.authorizePlatform(.write)
            let input = try AdminInputs.Tenant(try await Self.body(request, context))
            let (tenant, version) = try await self.mapped {
                try await self.store.createTenant(
                    name: input.name,
                    displayName: input.displayName,
                    labels: input.labels,
                    policy: input.policy,
                    rateLimits: input.rateLimits,
                    actor: self.actor
                )
            }
            return Response.json(Self.render(tenant), status: .created, headers: Self.versionHeader(version))
        }
        admin.get("tenants/:tenant") { _, context in Self.render(try await self.requireTenant(context, .read)) }
        admin.put("tenants/:tenant") { request, context in
            let name = try Self.param(context, "tenant")
            try self.authorizeTenant(name, .read)
            try self.authorizePlatform(.write)
            var body = try await Self.body(request, context)
            if case .object(var fields) = body, fields["name"] == nil {
                fields["name"] = .string(name)
                body = .object(fields)
            }
            let input = try AdminInputs.Tenant(body)
            guard input.name == name else { throw AdminError.invalid("name", "must match the name in the path ('\(name)')") }
            let (tenant, version) = try await self.mapped {
                try await self.store.updateTenant(
                    name: name,
                    displayName: input.displayName,
                    labels: input.labels,
                    policy: input.policy,
                    rateLimits: input.rateLimits,
                    actor: self.actor
                )
            }
            return Response.json(Self.render(tenant), headers: try await self.versionHeader(version))
        }
        admin.delete("tenants/:tenant") { _, context in
            let name = try Self.param(context, "tenant")
            try self.authorizeTenant(name, .read)
            try self.authorizePlatform(.write)
            let version = try await self.mapped { try await self.store.deleteTenant(name: name, actor: self.actor) }
            return Response(status: .noContent, headers: Self.versionHeader(version))
        }

        admin.get("tenants/:tenant/keys") { _, context in
            let tenant = try await self.requireTenant(context, .read)
            return Self.list(try await self.store.listKeys(tenant: tenant.name).map(Self.render))
        }
        admin.post("tenants/:tenant/keys") { request, context in
            let tenant = try await self.requireTenant(context, .write)
            let input = try AdminInputs.Key(try await Self.body(request, context, emptyIsObject: true))
            try await self.checkLimit(.apiKeys, tenant: tenant.name, limit: self.limits.maxKeysPerTenant, what: "active keys")
            let (secret, prefix) = APIKeyFormat.generate()
            let id = "key_" + String(APIKeyFormat.generate().secret.suffix(16))
            let hash = Hashing.sha256Hex(Data(secret.utf8))
            let (key, version) = try await self.mapped {
                try await self.store.createKey(
                    tenant: tenant.name,
                    id: id,
                    prefix: prefix,
                    secretHash: hash,
                    settings: input.settings,
                    actor: self.actor
                )
            }
            var body = Self.render(key)
            body["secret"] = .string(secret)
            return Response.json(body, status: .created, headers: Self.versionHeader(version))
        }
        admin.patch("tenants/:tenant/keys/:key_id") { request, context in
            let tenant = try await self.requireTenant(context, .write)
            let id = try Self.param(context, "key_id")
            guard case .object(let patch) = try await Self.body(request, context) else {
                throw AdminError.invalid("body", "must be a JSON object of the fields to change")
            }
            guard let existing = try await self.store.listKeys(tenant: tenant.name).first(where: { $0.id == id }) else {
                throw AdminError.notFound("key '\(id)' does not exist in tenant '\(tenant.name)'")
            }
            // The fields sent replace the key's; the rest stay. An unchanged past expiry is not re-checked.
            var merged = (Self.render(existing).objectValue ?? [:]).filter { AdminInputs.Key.fields.contains($0.key) && $0.key != "expires_at" }
            for (field, value) in patch { merged[field] = value }
            var input = try AdminInputs.Key(.object(merged))
            if patch["expires_at"] == nil { input.settings.expiresAt = existing.expiresAt }
            let (key, version) = try await self.mapped {
                try await self.store.updateKey(tenant: tenant.name, id: id, settings: input.settings, actor: self.actor)
            }
            return Response.json(Self.render(key), headers: try await self.versionHeader(version))
        }
        admin.delete("tenants/:tenant/keys/:key_id") { _, context in
            let tenant = try await self.requireTenant(context, .write)
            let id = try Self.param(context, "key_id")
            let (key, version) = try await self.mapped { try await self.store.revokeKey(tenant: tenant.name, id: id, actor: self.actor) }
            return Response.json(Self.render(key), headers: try await self.versionHeader(version))
        }

        admin.get("providers") { _, _ in
            try self.authorizePlatform(.read)
            return Self.list(try await self.store.listProviders().map(Self.render))
        }
        admin.post("providers") { request, context in
            try self.authorizePlatform(.write)
            return try await self.putProvider(
                Provider: try AdminInputs.Provider(try await Self.body(request, context), pathName: nil),
                mustCreate: true
            )
        }
        admin.get("providers/:provider") { _, context in
            try self.authorizePlatform(.read)
            let name = try Self.param(context, "provider")
            guard let provider = try await self.store.provider(name) else { throw AdminError.notFound("provider '\(name)' does not exist") }
            return Self.render(provider)
        }
        admin.put("providers/:provider") { request, context in
            try self.authorizePlatform(.write)
            let name = try Self.param(context, "provider")
            return try await self.putProvider(
                Provider: try AdminInputs.Provider(try await Self.body(request, context), pathName: name),
                mustCreate: false
            )
        }
        admin.delete("providers/:provider") { _, context in
            try self.authorizePlatform(.write)
            let name = try Self.param(context, "provider")
            let version = try await self.mapped { try await self.store.deleteProvider(name: name, actor: self.actor) }
            return Response(status: .noContent, headers: Self.versionHeader(version))
        }

        // The model catalog is readable by every token: tenants' routes name its models.
        admin.get("models") { _, _ in Self.list(try await self.store.listModels().map(Self.render)) }
        admin.post("models") { request, context in
            try self.authorizePlatform(.write)
            return try await self.putModel(try AdminInputs.Model(try await Self.body(request, context), pathName: nil), mustCreate: true)
        }
        admin.get("models/:model") { _, context in
            let name = try Self.param(context, "model")
            guard let model = try await self.store.model(name) else { throw AdminError.notFound("model '\(name)' does not exist") }
            return Self.render(model)
        }
        admin.put("models/:model") { request, context in
            try self.authorizePlatform(.write)
            let name = try Self.param(context, "model")
            return try await self.putModel(try AdminInputs.Model(try await Self.body(request, context), pathName: name), mustCreate: false)
        }
        admin.delete("models/:model") { _, context in
            try self.authorizePlatform(.write)
            let name = try Self.param(context, "model")
            let version = try await self.mapped { try await self.store.deleteModel(name: name, actor: self.actor) }
            return Response(status: .noContent, headers: Self.versionHeader(version))
        }

        admin.get("tenants/:tenant/routes") { _, context in
            let tenant = try await self.requireTenant(context, .read)
            return Self.list(try await self.store.listRoutes(tenant: tenant.name).map(Self.render))
        }
        admin.post("tenants/:tenant/routes") { request, context in
            let tenant = try Self.param(context, "tenant")
            try self.authorizeTenant(tenant, .write)
            return try await self.putRoute(
                tenant: tenant,
                try AdminInputs.Route(try await Self.body(request, context), pathAlias: nil),
                mustCreate: true
            )
        }
        admin.get("tenants/:tenant/routes/:alias") { _, context in Self.render(try await self.requireRoute(context, .read)) }
        admin.put("tenants/:tenant/routes/:alias") { request, context in
            let tenant = try Self.param(context, "tenant")
            try self.authorizeTenant(tenant, .write)
            let alias = try Self.param(context, "alias")
            return try await self.putRoute(
                tenant: tenant,
                try AdminInputs.Route(try await Self.body(request, context), pathAlias: alias),
                mustCreate: false
            )
        }
        admin.delete("tenants/:tenant/routes/:alias") { _, context in
            let tenant = try Self.param(context, "tenant")
            try self.authorizeTenant(tenant, .write)
            let alias = try Self.param(context, "alias")
            let version = try await self.mapped { try await self.store.deleteRoute(tenant: tenant, alias: alias, actor: self.actor) }
            return Response(status: .noContent, headers: Self.versionHeader(version))
        }
        admin.get("tenants/:tenant/routes/:alias/revisions") { _, context in
            let route = try await self.requireRoute(context, .read)
            return Self.list(try await self.store.routeRevisions(tenant: route.tenant, alias: route.alias).map(Self.render))
        }
        admin.get("tenants/:tenant/routes/:alias/revisions/:revision") { _, context in
            let route = try await self.requireRoute(context, .read)
            let text = try Self.param(context, "revision")
            guard let revision = Int(text), revision > 0 else { throw AdminError.invalid("revision", "must be a positive integer") }
            guard let found = try await self.store.routeRevisions(tenant: route.tenant, alias: route.alias).first(where: { $0.revision == revision })
            else { throw AdminError.notFound("route '\(route.alias)' has no revision \(revision)") }
            return Self.render(found)
        }
        admin.post("tenants/:tenant/routes/:alias/simulate") { request, context in
            let route = try await self.requireRoute(context, .read)
            return try await self.simulate(route, input: try await Self.body(request, context))
        }

        admin.get("nodes") { _, _ in
            try self.authorizePlatform(.read)
            return Self.list(try await self.store.listNodes().map(Self.render))
        }
        admin.get("audit") { request, _ in try await self.audit(request) }
        self.registerTokens(on: admin)
        self.registerPrompts(on: admin)
        self.registerBudgets(on: admin)
        self.registerPrices(on: admin)
        self.registerWebhooks(on: admin)
        self.registerCanaries(on: admin)
    }

    /// `GET /admin/v1/audit`: newest first, filtered, paged backwards by `before_id`.
    func audit(_ request: Request) async throws -> Response {
        let query = request.uri.queryParameters
        try Self.rejectUnknownParameters(
            query.map { String($0.key) },
            known: ["limit", "tenant", "object_type", "object_id", "actor", "action", "since", "until", "before_id"]
        )
        func integer(_ name: String, _ range: ClosedRange<Int>) throws -> Int? {
            guard let text = query.get(name) else { return nil }
            guard let value = Int(text), range.contains(value) else {
                throw AdminError.invalid(name, "must be an integer from \(range.lowerBound) to \(range.upperBound)")
            }
            return value
        }
        func time(_ name: String) throws -> Date? {
            guard let text = query.get(name) else { return nil }
            guard let date = try? Date(text, strategy: .iso8601) else {
                throw AdminError.invalid(name, "must be an RFC 3339 time with a zone, e.g. 2026-11-22T10:00:00Z")
            }
            return date
        }
        let limit = try integer("limit", 1...1000) ?? 50
        var filter = AuditFilter()
        filter.tenant = query.get("tenant")
        filter.objectType = query.get("object_type")
        filter.objectID = query.get("object_id")
        filter.actor = query.get("actor")
        filter.action = query.get("action")
        filter.since = try time("since")
        filter.until = try time("until")
        filter.beforeID = try integer("before_id", 1...Int.max)
        // A tenant's token sees its own tenant's entries only; asking for another tenant finds
        // nothing, exactly like asking for a tenant that does not exist.
        if case .tenant(let own) = self.principal.scope {
            if let asked = filter.tenant, asked != own { return .json(["data": [], "next_before_id": .null]) }
            filter.tenant = own
            // A tenant name can be reused after a delete: the history of the earlier one is not theirs.
            guard let tenant = try await self.store.tenant(own) else { return .json(["data": [], "next_before_id": .null]) }
            filter.since = max(filter.since ?? tenant.createdAt, tenant.createdAt)
        }
        for value in [filter.tenant, filter.objectType, filter.objectID, filter.actor, filter.action].compactMap({ $0 })
        where value.utf8.contains(0) || value.utf8.count > 512 {
            throw AdminError.invalid("query", "filter values are at most 512 bytes, without NUL")
        }
        let entries = try await self.store.audit(filter, limit: limit)
        let next: JSONValue = entries.count == limit ? entries.last.map { .int(Int64($0.id)) } ?? .null : .null
        return .json(["data": .array(entries.map(Self.render)), "next_before_id": next])
    }

    // MARK: Writes shared by POST and PUT

    func putProvider(Provider input: AdminInputs.Provider, mustCreate: Bool) async throws -> Response {
        // An identical PUT writes nothing (no audit row, no config version): `apply` stays idempotent.
        if !mustCreate, let existing = try await self.store.provider(input.name), existing.kind == input.kind,
            existing.baseURL == input.baseURL, try await self.storedCredentialsEqual(input)
        {
            return Response.json(Self.render(existing), headers: try await self.versionHeader(nil))
        }
        let credentials = try input.credentials.map { list in
            (sealed: try self.masterKey.seal(ProviderCredentialList.encode(list)), names: ProviderCredentialList.names(list))
        }
        let (created, version) = try await self.mapped {
            try await self.store.upsertProvider(
                name: input.name,
                kind: input.kind,
                baseURL: input.baseURL,
                credentials: credentials,
                mustCreate: mustCreate,
                actor: self.actor
            )
        }
        guard let record = try await self.store.provider(input.name) else { throw AdminError.notFound("provider '\(input.name)' does not exist") }
        return Response.json(Self.render(record), status: created ? .created : .ok, headers: Self.versionHeader(version))
    }

    /// Whether the input leaves the stored credentials as they are.
    func storedCredentialsEqual(_ input: AdminInputs.Provider) async throws -> Bool {
        guard let wanted = input.credentials else { return true }
        let (sealed, legacy) = try await self.store.sealedCredentials(provider: input.name)
        let stored: [ProviderCredential]
        if let sealed {
            stored = try ProviderCredentialList.decode(try self.masterKey.open(sealed))
        } else if let legacy {
            stored = [ProviderCredential(name: "default", key: try self.masterKey.open(legacy), weight: 1)]
        } else {
            stored = []
        }
        return stored == wanted
    }

    func putModel(_ input: AdminInputs.Model, mustCreate: Bool) async throws -> Response {
        if !mustCreate, let existing = try await self.store.model(input.name), existing.provider == input.provider,
            existing.upstreamModel == input.upstreamModel, existing.inputPricePerMTok == input.inputPrice,
            existing.outputPricePerMTok == input.outputPrice, existing.tags == input.tags, existing.capabilities == input.capabilities,
            existing.requestPriceMicros == input.requestPriceMicros
        {
            return Response.json(Self.render(existing), headers: try await self.versionHeader(nil))
        }
        let (created, version) = try await self.mapped(field: "provider") {
            try await self.store.upsertModel(
                name: input.name,
                provider: input.provider,
                upstreamModel: input.upstreamModel,
                inputPrice: input.inputPrice,
                outputPrice: input.outputPrice,
                tags: input.tags,
                capabilities: input.capabilities,
                requestPriceMicros: input.requestPriceMicros,
                mustCreate: mustCreate,
                actor: self.actor
            )
        }
        guard let record = try await self.store.model(input.name) else { throw AdminError.notFound("model '\(input.name)' does not exist") }
        return Response.json(Self.render(record), status: created ? .created : .ok, headers: Self.versionHeader(version))
    }

    func putRoute(tenant: String, _ input: AdminInputs.Route, mustCreate: Bool) async throws -> Response {
        if try await self.store.route(tenant: tenant, alias: input.alias) == nil, try await self.store.tenant(tenant) != nil {
            try await self.checkLimit(.routes, tenant: tenant, limit: self.limits.maxRoutesPerTenant, what: "routes")
        }
        do {
            let (route, created, version) = try await self.store.putRoute(
                tenant: tenant,
                alias: input.alias,
                spec: input.spec,
                comment: input.comment,
                mustCreate: mustCreate,
                actor: self.actor
            )
            return Response.json(Self.render(route), status: created ? .created : .ok, headers: try await self.versionHeader(version))
        } catch let error as StoreError where error.code == .notFound && error.message.hasPrefix("prompt") {
            let named = error.message.split(separator: "'").dropFirst().first.flatMap { PromptRef(String($0)) }
            throw AdminError.invalid(named.flatMap(input.spec.path(ofPrompt:)) ?? "default.prompt", error.message)
        } catch let error as StoreError where error.code == .notFound && error.message.hasPrefix("model") {
            // An unknown model is a bad field in the body, not a missing URL.
            let missing = error.message.split(separator: "'").dropFirst().first.map(String.init) ?? ""
            throw AdminError.invalid(input.spec.path(ofModel: missing) ?? "default.model", error.message)
        } catch let error as StoreError {
            throw Self.map(error)
        }
    }

    // MARK: Helpers

    /// Refuses a query parameter the endpoint does not read (a typo must not silently widen a filter).
    static func rejectUnknownParameters(_ names: [String], known: Set<String>) throws {
        for name in names where !known.contains(name) {
            throw AdminError.invalid(name, "unknown query parameter; use \(known.sorted().joined(separator: ", "))")
        }
    }

    /// A path parameter, percent-decoded (`pp%3Ax` names `pp:x`).
    static func param(_ context: some RequestContext, _ name: String) throws -> String {
        let raw = try context.parameters.require(name)
        return raw.removingPercentEncoding ?? raw
    }

    /// The version header for an answer; a write that changed nothing reports the current version.
    func versionHeader(_ version: Int?) async throws -> HTTPFields {
        if let version { return Self.versionHeader(version) }
        return Self.versionHeader(try await self.store.currentVersion())
    }

    /// Refuses a write that every node would reject (NACK), which would freeze the whole fleet's
    /// config until someone undid it.
    func checkLimit(_ table: ConfigStore.TenantTable, tenant: String, limit: Int, what: String) async throws {
        let count = try await self.store.count(table, tenant: tenant)
        guard count < limit else {
            throw AdminError.conflict("tenant '\(tenant)' already has \(count) \(what), the limit nodes accept is \(limit)")
        }
    }

    /// The tenant named in the path, once the caller may do `need` in it.
    func requireTenant(_ context: some RequestContext, _ need: AdminNeed) async throws -> TenantRecord {
        let name = try Self.param(context, "tenant")
        try self.authorizeTenant(name, need)
        guard let tenant = try await self.store.tenant(name) else { throw Self.tenantNotFound(name) }
        return tenant
    }

    func requireRoute(_ context: some RequestContext, _ need: AdminNeed) async throws -> RouteRecord {
        let tenant = try await self.requireTenant(context, need)
        let alias = try Self.param(context, "alias")
        guard let route = try await self.store.route(tenant: tenant.name, alias: alias) else {
            throw AdminError.notFound("route '\(alias)' does not exist in tenant '\(tenant.name)'")
        }
        return route
    }

    /// Runs a store call and turns store errors into admin errors. A missing referenced object
    /// named in the body becomes a 422 on `field`.
    func mapped<T>(field: String? = nil, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as StoreError {
            if let field, error.code == .notFound { throw AdminError.invalid(field, error.message) }
            throw Self.map(error)
        }
    }

    static func map(_ error: StoreError) -> AdminError {
        switch error.code {
        case .notFound: .notFound(error.message)
        case .conflict: .conflict(error.message)
        case .unavailable:
            AdminError(.serviceUnavailable, code: "unavailable", message: "The config database is unavailable; nothing was changed.")
        }
    }

    static func body(_ request: Request, _ context: some RequestContext, emptyIsObject: Bool = false) async throws -> JSONValue {
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: Self.maxBodyBytes)
        } catch {
            throw AdminError(.contentTooLarge, code: "body_too_large", message: "The request body exceeds \(Self.maxBodyBytes) bytes.")
        }
        if buffer.readableBytes == 0, emptyIsObject { return [:] }
        let value: JSONValue
        do {
            value = try JSONValue(parsing: buffer.readableBytesView)
        } catch {
            throw AdminError.invalidJSON
        }
        // PostgreSQL text cannot hold U+0000: refuse it here, naming the field, not at the insert.
        if let path = Self.pathOfNUL(value, path: "") {
            throw AdminError.invalid(path.isEmpty ? "$" : path, "must not contain the NUL character (U+0000)")
        }
        return value
    }

    /// The field path of the first string (or key) containing U+0000, if any.
    static func pathOfNUL(_ value: JSONValue, path: String) -> String? {
        switch value {
        case .string(let text): return text.utf8.contains(0) ? path : nil
        case .array(let items):
            for (index, item) in items.enumerated() {
                if let found = Self.pathOfNUL(item, path: "\(path)[\(index)]") { return found }
            }
            return nil
        case .object(let fields):
            for (key, item) in fields.sorted(by: { $0.key < $1.key }) {
                let child = FieldReader.join(path, key)
                if key.utf8.contains(0) { return child }
                if let found = Self.pathOfNUL(item, path: child) { return found }
            }
            return nil
        default: return nil
        }
    }

    static func versionHeader(_ version: Int) -> HTTPFields {
        [HTTPField.Name("x-switchyard-config-version")!: String(version)]
    }

    static func list(_ items: [JSONValue]) -> Response { .json(["data": .array(items)]) }
}
