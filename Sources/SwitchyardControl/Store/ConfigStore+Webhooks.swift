public import Foundation
public import Logging
public import PostgresNIO
public import SwitchyardCore

/// A tenant's webhook as the admin API shows it. The signing secret is not part of it: it stays
/// sealed in the database and is only opened by the delivery service.
public struct WebhookRecord: Sendable, Hashable {
    public var tenant: String
    public var name: String
    public var url: String
    /// Event types or prefix patterns (`budget.*`); empty means every event.
    public var events: [String]
    public var enabled: Bool
    public var createdAt: Date
    public var updatedAt: Date
}

/// One (event, webhook) delivery, for the delivery log.
public struct WebhookDeliveryRecord: Sendable, Hashable {
    public var eventID: Int64
    public var type: String
    /// `pending`, `delivered` or `failed`.
    public var state: String
    public var attempts: Int
    public var lastStatus: Int?
    public var lastError: String?
    /// When the next attempt is due (pending deliveries only).
    public var nextAttemptAt: Date?
    public var deliveredAt: Date?
    public var createdAt: Date
}

/// A delivery the delivery service claimed for one attempt, with its event and its webhook
/// (`url` and `secretSealed` are nil when the webhook no longer exists).
struct ClaimedWebhookDelivery: Sendable {
    var eventID: Int64
    var tenant: String
    var webhook: String
    /// Attempts so far, this one included.
    var attempts: Int
    var type: String
    var payload: String
    var createdAt: Date
    var url: String?
    var secretSealed: Data?
    var enabled: Bool
}

extension ConfigStore {
    /// Webhooks a tenant may have.
    public static let maxWebhooksPerTenant = 16

    static let webhookColumns = "tenant, name, url, events, enabled, created_at, updated_at"

    static func decodeWebhooks(_ rows: PostgresRowSequence) async throws -> [WebhookRecord] {
        var result: [WebhookRecord] = []
        for try await (tenant, name, url, events, enabled, created, updated) in rows.decode(
            (String, String, String, [String], Bool, Date, Date).self
        ) {
            result.append(
                WebhookRecord(tenant: tenant, name: name, url: url, events: events, enabled: enabled, createdAt: created, updatedAt: updated)
            )
        }
        return result
    }

    public func listWebhooks(tenant: String) async throws -> [WebhookRecord] {
        var binds = PostgresBindings()
        binds.append(tenant)
        let rows = try await self.boundedQuery(
            PostgresQuery(unsafeSQL: "SELECT \(Self.webhookColumns) FROM webhooks WHERE tenant = $1 ORDER BY name", binds: binds),
            logger: self.logger
        )
        return try await Self.decodeWebhooks(rows)
    }

    public func webhook(tenant: String, name: String) async throws -> WebhookRecord? {
        var binds = PostgresBindings()
        binds.append(tenant)
        binds.append(name)
        let rows = try await self.boundedQuery(
            PostgresQuery(unsafeSQL: "SELECT \(Self.webhookColumns) FROM webhooks WHERE tenant = $1 AND name = $2", binds: binds),
            logger: self.logger
        )
        return try await Self.decodeWebhooks(rows).first
    }

    /// The webhook's sealed signing secret (nil when the webhook does not exist).
    public func sealedWebhookSecret(tenant: String, name: String) async throws -> Data? {
        let rows = try await self.boundedQuery(
            "SELECT secret_sealed FROM webhooks WHERE tenant = \(tenant) AND name = \(name)",
            logger: self.logger
        )
        for try await sealed in rows.decode(Data.self) { return sealed }
        return nil
    }

    /// Creates or replaces a webhook. `secret` (sealed) replaces the stored secret; when it is
    /// nil an existing webhook keeps its secret and a new one gets `generatedSecret`. Returns the
    /// record and whether it was created. Audited, without a config version (nodes never see
    /// webhooks). A new webhook beyond ``maxWebhooksPerTenant`` is a conflict.
    public func putWebhook(
        tenant: String,
        name: String,
        url: String,
        events: [String],
        enabled: Bool,
        secret: Data?,
        generatedSecret: Data,
        actor: String
    ) async throws -> (record: WebhookRecord, created: Bool) {
        let existing = try await self.webhook(tenant: tenant, name: name)
        let logger = self.logger
        let limit = Self.maxWebhooksPerTenant
        let change = Change(
            actor: actor,
            action: existing == nil ? "create" : "update",
            objectType: "webhook",
            objectID: "\(tenant)/\(name)",
            tenant: tenant,
            detail: Self.auditDetail(url: url, events: events, enabled: enabled, secretChanged: existing == nil || secret != nil)
        )
        let before: JSONValue =
            existing.map { Self.auditDetail(url: $0.url, events: $0.events, enabled: $0.enabled, secretChanged: nil) }
            .map(JSONValue.object) ?? .null
        return try await self.auditedWithoutVersion(change, before: before) { connection in
            // The tenant's row lock serializes webhook writers of the tenant, so the limit holds.
            let tenantRows = try await connection.query("SELECT 1 FROM tenants WHERE name = \(tenant) FOR NO KEY UPDATE", logger: logger)
            try await Self.requireRow(tenantRows, else: StoreError.notFound("tenant '\(tenant)' does not exist"))
            var others = 0
            for try await count in try await connection.query(
                "SELECT count(*) FROM webhooks WHERE tenant = \(tenant) AND name <> \(name)",
                logger: logger
            ).decode(Int.self) {
                others = count
            }
            var exists = false
            for try await _ in try await connection.query("SELECT 1 FROM webhooks WHERE tenant = \(tenant) AND name = \(name)", logger: logger) {
                exists = true
            }
            if !exists, others >= limit {
                throw StoreError.conflict("tenant '\(tenant)' already has \(others) webhooks, the limit is \(limit)")
            }
            let rows = try await connection.query(
                """
                INSERT INTO webhooks (tenant, name, url, secret_sealed, events, enabled)
                VALUES (\(tenant), \(name), \(url), COALESCE(\(secret)::bytea, \(generatedSecret)::bytea), \(events), \(enabled))
                ON CONFLICT (tenant, name) DO UPDATE SET url = EXCLUDED.url, events = EXCLUDED.events, enabled = EXCLUDED.enabled,
                    secret_sealed = COALESCE(\(secret)::bytea, webhooks.secret_sealed), updated_at = now()
                RETURNING (xmax = 0), tenant, name, url, events, enabled, created_at, updated_at
                """,
                logger: logger
            )
            for try await (created, storedTenant, storedName, storedURL, storedEvents, storedEnabled, createdAt, updatedAt) in rows.decode(
                (Bool, String, String, String, [String], Bool, Date, Date).self
            ) {
                let record = WebhookRecord(
                    tenant: storedTenant,
                    name: storedName,
                    url: storedURL,
                    events: storedEvents,
                    enabled: storedEnabled,
                    createdAt: createdAt,
                    updatedAt: updatedAt
                )
                return (record: record, created: created)
            }
            throw StoreError.conflict("webhook '\(name)' was not written")
        }
    }

    /// What the audit log records of a webhook: never its secret, only whether it changed.
    static func auditDetail(url: String, events: [String], enabled: Bool, secretChanged: Bool?) -> [String: JSONValue] {
        var detail: [String: JSONValue] = [
            "url": .string(url), "events": .array(events.map(JSONValue.string)), "enabled": .bool(enabled),
        ]
        if let secretChanged { detail["secret_changed"] = .bool(secretChanged) }
        return detail
    }

    /// Deletes a webhook and its delivery log; its pending deliveries are never sent.
    public func deleteWebhook(tenant: String, name: String, actor: String) async throws {
        guard let existing = try await self.webhook(tenant: tenant, name: name) else {
            throw StoreError.notFound("webhook '\(name)' does not exist in tenant '\(tenant)'")
        }
        let logger = self.logger
        let change = Change(actor: actor, action: "delete", objectType: "webhook", objectID: "\(tenant)/\(name)", tenant: tenant)
        let before = JSONValue.object(Self.auditDetail(url: existing.url, events: existing.events, enabled: existing.enabled, secretChanged: nil))
        try await self.auditedWithoutVersion(change, before: before) { connection in
            let rows = try await connection.query(
                "DELETE FROM webhooks WHERE tenant = \(tenant) AND name = \(name) RETURNING name",
                logger: logger
            )
            try await Self.requireRow(rows, else: StoreError.notFound("webhook '\(name)' does not exist in tenant '\(tenant)'"))
            try await connection.query("DELETE FROM webhook_deliveries WHERE tenant = \(tenant) AND webhook = \(name)", logger: logger)
        }
    }

    /// A webhook's most recent deliveries, newest event first.
    public func webhookDeliveries(tenant: String, webhook: String, limit: Int) async throws -> [WebhookDeliveryRecord] {
        let rows = try await self.boundedQuery(
            """
            SELECT d.event_id, e.type, d.state, d.attempts, d.last_status, d.last_error, d.next_attempt_at, d.delivered_at, e.created_at
            FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id
            WHERE d.tenant = \(tenant) AND d.webhook = \(webhook)
            ORDER BY d.event_id DESC LIMIT \(limit)
            """,
            logger: self.logger
        )
        var result: [WebhookDeliveryRecord] = []
        for try await (id, type, state, attempts, status, error, next, delivered, created) in rows.decode(
            (Int64, String, String, Int, Int?, String?, Date, Date?, Date).self
        ) {
            result.append(
                WebhookDeliveryRecord(
                    eventID: id,
                    type: type,
                    state: state,
                    attempts: attempts,
                    lastStatus: status,
                    lastError: error,
                    nextAttemptAt: state == "pending" ? next : nil,
                    deliveredAt: delivered,
                    createdAt: created
                )
            )
        }
        return result
    }

    // MARK: Events

    /// Records a webhook event inside the caller's transaction: the event and one pending
    /// delivery per enabled webhook of `tenant` subscribed to `type` (listed exactly, matched by
    /// a prefix pattern such as `budget.*`, or subscribed to everything with an empty list).
    /// The event is durable, and will be delivered, once the caller's transaction commits;
    /// nothing is recorded if it rolls back. Returns the event id (`evt_<id>` on the wire), or
    /// nil when no webhook wants the event (then nothing is written).
    ///
    /// `type` is a dotted lower-case name (`budget.threshold`); `data` is the event's `data`
    /// object. Neither may contain a secret: webhook receivers see them, and so do the logs.
    @discardableResult
    public func enqueueWebhookEvent(
        on connection: PostgresConnection,
        tenant: String,
        type: String,
        data: JSONValue,
        logger: Logger
    ) async throws -> Int64? {
        try await Self.insertWebhookEvent(on: connection, tenant: tenant, type: type, data: data, onlyWebhook: nil, logger: logger)
    }

    /// ``enqueueWebhookEvent(on:tenant:type:data:logger:)`` in a transaction of its own.
    @discardableResult
    public func enqueueWebhookEvent(tenant: String, type: String, data: JSONValue) async throws -> Int64? {
        let logger = self.logger
        let client = self.client
        do {
            return try await self.bounded {
                try await client.withTransaction(logger: logger) { connection in
                    try await Self.insertWebhookEvent(on: connection, tenant: tenant, type: type, data: data, onlyWebhook: nil, logger: logger)
                }
            }
        } catch let error as PostgresTransactionError {
            throw Self.unwrap(error)
        }
    }

    /// Sends a `webhook.test` event to one webhook (whatever it subscribes to). Audited, without
    /// a config version. Returns the event id.
    public func sendWebhookTest(tenant: String, webhook: String, actor: String) async throws -> Int64 {
        let logger = self.logger
        let change = Change(actor: actor, action: "test", objectType: "webhook", objectID: "\(tenant)/\(webhook)", tenant: tenant)
        let data: JSONValue = ["webhook": .string(webhook), "message": "A test event sent from the Switchyard admin API."]
        return try await self.auditedWithoutVersion(change) { connection in
            guard
                let id = try await Self.insertWebhookEvent(
                    on: connection,
                    tenant: tenant,
                    type: "webhook.test",
                    data: data,
                    onlyWebhook: webhook,
                    logger: logger
                )
            else { throw StoreError.notFound("webhook '\(webhook)' does not exist in tenant '\(tenant)'") }
            return id
        }
    }

    static func insertWebhookEvent(
        on connection: PostgresConnection,
        tenant: String,
        type: String,
        data: JSONValue,
        onlyWebhook: String?,
        logger: Logger
    ) async throws -> Int64? {
        let payload = String(decoding: data.serialized(sortedKeys: true), as: UTF8.self)
        // One statement: the targets, the event (only if some webhook wants it), its deliveries.
        let query: PostgresQuery
        if let onlyWebhook {
            query = """
                WITH targets AS (
                    SELECT name FROM webhooks WHERE tenant = \(tenant) AND name = \(onlyWebhook)
                ), new_event AS (
                    INSERT INTO webhook_events (tenant, type, payload)
                    SELECT \(tenant), \(type), \(payload)::jsonb WHERE EXISTS (SELECT 1 FROM targets)
                    RETURNING id
                ), new_deliveries AS (
                    INSERT INTO webhook_deliveries (event_id, tenant, webhook)
                    SELECT new_event.id, \(tenant), targets.name FROM new_event, targets
                )
                SELECT id FROM new_event
                """
        } else {
            query = """
                WITH targets AS (
                    SELECT name FROM webhooks
                    WHERE tenant = \(tenant) AND enabled
                      AND (cardinality(events) = 0 OR \(type)::text = ANY (events)
                           OR EXISTS (SELECT 1 FROM unnest(events) AS pattern
                                      WHERE right(pattern, 2) = '.*' AND starts_with(\(type)::text, left(pattern, -1))))
                ), new_event AS (
                    INSERT INTO webhook_events (tenant, type, payload)
                    SELECT \(tenant), \(type), \(payload)::jsonb WHERE EXISTS (SELECT 1 FROM targets)
                    RETURNING id
                ), new_deliveries AS (
                    INSERT INTO webhook_deliveries (event_id, tenant, webhook)
                    SELECT new_event.id, \(tenant), targets.name FROM new_event, targets
                )
                SELECT id FROM new_event
                """
        }
        var id: Int64?
        for try await value in try await connection.query(query, logger: logger).decode(Int64.self) { id = value }
        return id
    }

    // MARK: Delivery (the delivery service)

    /// Claims up to `limit` due deliveries for one attempt each: their attempt count goes up by
    /// one and they are not due again for `claimSeconds` (so a replica that dies mid-attempt
    /// only delays them). `SKIP LOCKED` lets every replica claim at once without waiting or
    /// claiming the same delivery.
    func claimWebhookDeliveries(limit: Int, claimSeconds: Double) async throws -> [ClaimedWebhookDelivery] {
        let rows = try await self.boundedQuery(
            """
            WITH due AS (
                SELECT event_id, webhook FROM webhook_deliveries
                WHERE state = 'pending' AND next_attempt_at <= now()
                ORDER BY next_attempt_at
                LIMIT \(limit)
                FOR UPDATE SKIP LOCKED
            ), claimed AS (
                UPDATE webhook_deliveries d
                SET attempts = d.attempts + 1, next_attempt_at = now() + \(claimSeconds) * interval '1 second'
                FROM due WHERE d.event_id = due.event_id AND d.webhook = due.webhook
                RETURNING d.event_id, d.tenant, d.webhook, d.attempts
            )
            SELECT c.event_id, c.tenant, c.webhook, c.attempts, e.type, e.payload::text, e.created_at,
                   w.url, w.secret_sealed, COALESCE(w.enabled, false)
            FROM claimed c
            JOIN webhook_events e ON e.id = c.event_id
            LEFT JOIN webhooks w ON w.tenant = c.tenant AND w.name = c.webhook
            ORDER BY c.event_id
            """,
            logger: self.logger
        )
        var result: [ClaimedWebhookDelivery] = []
        for try await (id, tenant, webhook, attempts, type, payload, created, url, sealed, enabled) in rows.decode(
            (Int64, String, String, Int, String, String, Date, String?, Data?, Bool).self
        ) {
            result.append(
                ClaimedWebhookDelivery(
                    eventID: id,
                    tenant: tenant,
                    webhook: webhook,
                    attempts: attempts,
                    type: type,
                    payload: payload,
                    createdAt: created,
                    url: url,
                    secretSealed: sealed,
                    enabled: enabled
                )
            )
        }
        return result
    }

    /// Records a 2xx answer. A delivery another attempt already settled stays as it is.
    func markWebhookDelivered(_ delivery: ClaimedWebhookDelivery, status: Int) async throws {
        try await self.boundedQuery(
            """
            UPDATE webhook_deliveries
            SET state = 'delivered', delivered_at = now(), last_status = \(status), last_error = NULL
            WHERE event_id = \(delivery.eventID) AND webhook = \(delivery.webhook) AND state = 'pending'
            """,
            logger: self.logger
        )
    }

    /// Records a failed attempt: due again after `retryAfterSeconds`, or `failed` when that is
    /// nil. Only the attempt that holds the claim records (a stale one changes nothing).
    func markWebhookAttemptFailed(_ delivery: ClaimedWebhookDelivery, status: Int?, error: String, retryAfterSeconds: Double?) async throws {
        let state = retryAfterSeconds == nil ? "failed" : "pending"
        let delay = retryAfterSeconds ?? 0
        try await self.boundedQuery(
            """
            UPDATE webhook_deliveries
            SET state = \(state), last_status = \(status), last_error = \(error),
                next_attempt_at = now() + \(delay) * interval '1 second'
            WHERE event_id = \(delivery.eventID) AND webhook = \(delivery.webhook) AND state = 'pending'
              AND attempts = \(delivery.attempts)
            """,
            logger: self.logger
        )
    }

    /// Gives up on a delivery without sending it (its webhook was deleted or disabled); the
    /// claimed attempt does not count.
    func skipWebhookDelivery(_ delivery: ClaimedWebhookDelivery, reason: String) async throws {
        try await self.boundedQuery(
            """
            UPDATE webhook_deliveries
            SET state = 'failed', attempts = attempts - 1, last_status = NULL, last_error = \(reason), next_attempt_at = now()
            WHERE event_id = \(delivery.eventID) AND webhook = \(delivery.webhook) AND state = 'pending'
              AND attempts = \(delivery.attempts)
            """,
            logger: self.logger
        )
    }

    /// Deletes events older than `olderThanSeconds` (with their delivery log), except those
    /// still being delivered. Returns how many were deleted.
    func purgeWebhookEvents(olderThanSeconds: Double) async throws -> Int {
        let rows = try await self.boundedQuery(
            """
            WITH gone AS (
                DELETE FROM webhook_events e
                WHERE e.created_at < now() - \(olderThanSeconds) * interval '1 second'
                  AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id AND d.state = 'pending')
                RETURNING 1
            )
            SELECT count(*) FROM gone
            """,
            logger: self.logger
        )
        for try await count in rows.decode(Int.self) { return count }
        return 0
    }

    // MARK: Master key rotation

    /// Re-seals every webhook secret with `reseal` inside the caller's transaction (for
    /// `rotate-master-key`, next to the provider credentials). Returns how many were re-sealed.
    public static func resealWebhookSecrets(
        on connection: PostgresConnection,
        logger: Logger,
        _ reseal: @escaping @Sendable (Data) throws -> Data
    ) async throws -> Int {
        var rows: [(String, String, Data)] = []
        for try await row in try await connection.query(
            "SELECT tenant, name, secret_sealed FROM webhooks ORDER BY tenant, name FOR UPDATE",
            logger: logger
        ).decode((String, String, Data).self) {
            rows.append(row)
        }
        for (tenant, name, sealed) in rows {
            let resealed = try reseal(sealed)
            try await connection.query(
                "UPDATE webhooks SET secret_sealed = \(resealed) WHERE tenant = \(tenant) AND name = \(name)",
                logger: logger
            )
        }
        return rows.count
    }

    /// ``resealWebhookSecrets(on:logger:_:)`` in a transaction of its own, audited (no config
    /// version: nodes never see webhook secrets).
    public func resealWebhookSecrets(actor: String, _ reseal: @escaping @Sendable (Data) throws -> Data) async throws -> Int {
        let logger = self.logger
        return try await self.auditedWithoutVersion(
            .init(actor: actor, action: "rotate-master-key", objectType: "webhook", objectID: "*")
        ) { connection in
            try await Self.resealWebhookSecrets(on: connection, logger: logger, reseal)
        }
    }
}
