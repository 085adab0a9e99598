import Foundation
import Hummingbird
import SwitchyardCore

/// A tenant's webhooks under `/admin/v1/tenants/{tenant}/webhooks`: signed event deliveries
/// with retries (`docs/guides/webhooks.md`). The signing secret is write-only: it is returned
/// once, when the control plane generates it on creation. Webhooks are not config nodes see:
/// writes are audited but bump no config version and send no version header.
extension AdminAPI {
    static let webhookEndpoints: [(method: String, path: String)] = [
        ("GET", "/admin/v1/tenants/{tenant}/webhooks"),
        ("GET", "/admin/v1/tenants/{tenant}/webhooks/{webhook}"), ("PUT", "/admin/v1/tenants/{tenant}/webhooks/{webhook}"),
        ("DELETE", "/admin/v1/tenants/{tenant}/webhooks/{webhook}"),
        ("GET", "/admin/v1/tenants/{tenant}/webhooks/{webhook}/deliveries"),
        ("POST", "/admin/v1/tenants/{tenant}/webhooks/{webhook}/test"),
    ]

    func registerWebhooks(on admin: RouterGroup<some RequestContext>) {
        admin.get("tenants/:tenant/webhooks") { _, context in
            let tenant = try await self.requireTenant(context, .read)
            return Self.list(try await self.store.listWebhooks(tenant: tenant.name).map(Self.render))
        }
        admin.get("tenants/:tenant/webhooks/:webhook") { _, context in
            Self.render(try await self.requireWebhook(context, .read))
        }
        admin.put("tenants/:tenant/webhooks/:webhook") { request, context in
            let tenant = try await self.requireTenant(context, .write)
            let name = try Self.param(context, "webhook")
            let input = try AdminInputs.Webhook(try await Self.body(request, context), pathName: name)
            return try await self.putWebhook(tenant: tenant.name, name: name, input)
        }
        admin.delete("tenants/:tenant/webhooks/:webhook") { _, context in
            let webhook = try await self.requireWebhook(context, .write)
            try await self.mapped { try await self.store.deleteWebhook(tenant: webhook.tenant, name: webhook.name, actor: self.actor) }
            return Response(status: .noContent)
        }
        admin.get("tenants/:tenant/webhooks/:webhook/deliveries") { request, context in
            let webhook = try await self.requireWebhook(context, .read)
            let query = request.uri.queryParameters
            try Self.rejectUnknownParameters(query.map { String($0.key) }, known: ["limit"])
            var limit = 50
            if let text = query.get("limit") {
                guard let number = Int(text), (1...500).contains(number) else {
                    throw AdminError.invalid("limit", "must be an integer from 1 to 500")
                }
                limit = number
            }
            let deliveries = try await self.store.webhookDeliveries(tenant: webhook.tenant, webhook: webhook.name, limit: limit)
            return Self.list(deliveries.map(Self.render))
        }
        admin.post("tenants/:tenant/webhooks/:webhook/test") { request, context in
            let webhook = try await self.requireWebhook(context, .write)
            _ = try FieldReader(try await Self.body(request, context, emptyIsObject: true), allowed: [])
            guard webhook.enabled else {
                throw AdminError.conflict("webhook '\(webhook.name)' is disabled; enable it to send a test event")
            }
            let id = try await self.mapped { try await self.store.sendWebhookTest(tenant: webhook.tenant, webhook: webhook.name, actor: self.actor) }
            return Response.json(["event_id": .string("evt_\(id)"), "type": "webhook.test"], status: .accepted)
        }
    }

    /// The webhook named in the path, once the caller may do `need` in its tenant.
    func requireWebhook(_ context: some RequestContext, _ need: AdminNeed) async throws -> WebhookRecord {
        let tenant = try await self.requireTenant(context, need)
        let name = try Self.param(context, "webhook")
        guard let webhook = try await self.store.webhook(tenant: tenant.name, name: name) else {
            throw AdminError.notFound("webhook '\(name)' does not exist in tenant '\(tenant.name)'")
        }
        return webhook
    }

    /// Creates (201) or replaces (200) a webhook. A new webhook without a `secret` gets a
    /// generated one, returned in this answer only. Unchanged input writes nothing.
    func putWebhook(tenant: String, name: String, _ input: AdminInputs.Webhook) async throws -> Response {
        if let existing = try await self.store.webhook(tenant: tenant, name: name), existing.url == input.url,
            existing.events == input.events, existing.enabled == input.enabled,
            try await self.storedWebhookSecretEquals(tenant: tenant, name: name, input.secret)
        {
            return Response.json(Self.render(existing))
        }
        // Sealed in case the webhook is new (decided in the store's transaction); unused otherwise.
        let generated = WebhookSecretFormat.generate()
        let generatedSealed = try self.masterKey.seal(generated)
        let sealed = try input.secret.map { try self.masterKey.seal($0) }
        let (record, created) = try await self.mapped {
            try await self.store.putWebhook(
                tenant: tenant,
                name: name,
                url: input.url,
                events: input.events,
                enabled: input.enabled,
                secret: sealed,
                generatedSecret: generatedSealed,
                actor: self.actor
            )
        }
        var body = Self.render(record)
        if created, input.secret == nil { body["secret"] = .string(generated) }
        return Response.json(body, status: created ? .created : .ok)
    }

    /// Whether `secret` (nil: keep the stored one) leaves the stored secret as it is.
    func storedWebhookSecretEquals(tenant: String, name: String, _ secret: String?) async throws -> Bool {
        guard let secret else { return true }
        guard let sealed = try await self.store.sealedWebhookSecret(tenant: tenant, name: name) else { return false }
        return (try? self.masterKey.open(sealed)) == secret
    }

    static func render(_ webhook: WebhookRecord) -> JSONValue {
        [
            "name": .string(webhook.name), "url": .string(webhook.url), "events": .array(webhook.events.map(JSONValue.string)),
            "enabled": .bool(webhook.enabled), "created_at": timestamp(webhook.createdAt), "updated_at": timestamp(webhook.updatedAt),
        ]
    }

    static func render(_ delivery: WebhookDeliveryRecord) -> JSONValue {
        [
            "event_id": .string("evt_\(delivery.eventID)"), "type": .string(delivery.type), "state": .string(delivery.state),
            "attempts": .int(Int64(delivery.attempts)), "last_status": optional(delivery.lastStatus) { .int(Int64($0)) },
            "last_error": optional(delivery.lastError, JSONValue.string), "next_attempt_at": optional(delivery.nextAttemptAt, timestamp),
            "delivered_at": optional(delivery.deliveredAt, timestamp), "created_at": timestamp(delivery.createdAt),
        ]
    }
}

/// Generated webhook signing secrets: `whsec_` and 32 random bytes in hex.
enum WebhookSecretFormat {
    static let marker = "whsec_"

    static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return Self.marker
            + bytes.map { byte in
                let hex = String(byte, radix: 16)
                return byte < 16 ? "0" + hex : hex
            }.joined()
    }
}

extension AdminInputs {
    /// A webhook's body: `url` (required), `events`, `enabled`, `secret` (write-only), and an
    /// optional `name` that must match the path.
    struct Webhook {
        static let maxURLBytes = 2_048
        static let maxEvents = 32
        var url: String
        var events: [String]
        var enabled: Bool
        var secret: String?

        init(_ json: JSONValue, pathName: String) throws(FieldError) {
            let reader = try FieldReader(json, allowed: ["name", "url", "events", "enabled", "secret"])
            _ = try AdminInputs.name(reader, key: "name", pathValue: pathName)
            let url = try reader.requiredString("url")
            try Self.checkURL(url, field: reader.field("url"))
            self.url = url
            let list = try reader.array("events") ?? []
            guard list.count <= Self.maxEvents else { throw .invalid(reader.field("events"), "at most \(Self.maxEvents) entries are allowed") }
            var events: [String] = []
            for (index, value) in list.enumerated() {
                let field = "\(reader.field("events"))[\(index)]"
                guard let pattern = value.stringValue else { throw .invalid(field, "must be a string, not \(value.typeName)") }
                guard Self.isEventPattern(pattern) else {
                    throw .invalid(field, "must be an event type such as budget.threshold, or a prefix pattern such as budget.*")
                }
                if !events.contains(pattern) { events.append(pattern) }
            }
            self.events = events
            self.enabled = try reader.bool("enabled") ?? true
            if let secret = try reader.string("secret") {
                // Never echo the value in the error.
                guard (16...256).contains(secret.utf8.count) else { throw .invalid(reader.field("secret"), "must be 16-256 bytes") }
                self.secret = secret
            }
        }

        /// An absolute http(s) URL with a host, at most `maxURLBytes`.
        static func checkURL(_ url: String, field: String) throws(FieldError) {
            guard url.utf8.count <= Self.maxURLBytes else { throw .invalid(field, "must be at most \(Self.maxURLBytes) bytes") }
            guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
                scheme == "http" || scheme == "https"
            else { throw .invalid(field, "must be an http:// or https:// URL") }
            guard let host = components.host, !host.isEmpty else { throw .invalid(field, "must name a host") }
        }

        /// `segment(.segment)+` (an event type) or `segment(.segment)*.*` (a prefix pattern);
        /// segments are lower-case letters, digits and `_`, starting with a letter.
        static func isEventPattern(_ text: String) -> Bool {
            guard text.utf8.count <= 128 else { return false }
            var segments = text.split(separator: ".", omittingEmptySubsequences: false)
            if segments.last == "*" {
                segments.removeLast()
                guard !segments.isEmpty else { return false }
            } else {
                guard segments.count >= 2 else { return false }
            }
            return segments.allSatisfy { segment in
                guard let first = segment.utf8.first, first >= UInt8(ascii: "a"), first <= UInt8(ascii: "z") else { return false }
                return segment.utf8.allSatisfy { byte in
                    (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                        || byte == UInt8(ascii: "_")
                }
            }
        }
    }
}
