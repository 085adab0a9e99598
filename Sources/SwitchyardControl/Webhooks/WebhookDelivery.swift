import AsyncHTTPClient
import Crypto
import Foundation
public import Logging
import NIOCore
import NIOHTTP1
public import ServiceLifecycle
import SwitchyardCore

/// Sends webhook events: every poll interval it claims due deliveries (safe across replicas:
/// each delivery is claimed by one replica at a time), POSTs each signed event outside any
/// transaction, and records the outcome. A 2xx answer delivers; anything else is retried with
/// exponential backoff until `maxAttempts`, then the delivery is `failed`. Every control-plane
/// replica runs one. On graceful shutdown it claims nothing more and lets running attempts
/// finish (each is bounded by `attemptTimeout`).
public struct WebhookDelivery: Service {
    public struct Configuration: Sendable {
        /// How often each replica looks for due deliveries.
        public var pollInterval: Duration
        /// The wait before the first retry; each later retry waits twice as long as the one
        /// before, up to `maxRetryDelay`, jittered by ±20 %.
        public var firstRetryDelay: Duration
        public var maxRetryDelay: Duration
        /// Attempts (the first one included) before a delivery is marked `failed`.
        public var maxAttempts: Int
        /// The longest one attempt may take: connect, send, and the receiver's answer.
        public var attemptTimeout: Duration
        /// Deliveries claimed, and sent concurrently, at a time.
        public var batchSize: Int
        /// Events older than this are purged with their delivery log (pending ones are kept).
        public var retention: Duration

        public init(
            pollInterval: Duration = .seconds(2),
            firstRetryDelay: Duration = .seconds(10),
            maxRetryDelay: Duration = .seconds(600),
            maxAttempts: Int = 12,
            attemptTimeout: Duration = .seconds(10),
            batchSize: Int = 32,
            retention: Duration = .seconds(30 * 86_400)
        ) {
            self.pollInterval = pollInterval
            self.firstRetryDelay = firstRetryDelay
            self.maxRetryDelay = maxRetryDelay
            self.maxAttempts = maxAttempts
            self.attemptTimeout = attemptTimeout
            self.batchSize = batchSize
            self.retention = retention
        }
    }

    let store: ConfigStore
    let masterKey: MasterKey
    let configuration: Configuration
    let schemaReady: SchemaGate
    let logger: Logger

    /// How often each replica purges events past `retention`.
    static let purgeInterval: Duration = .seconds(600)

    public init(store: ConfigStore, masterKey: MasterKey, configuration: Configuration = .init(), schemaReady: SchemaGate, logger: Logger) {
        self.store = store
        self.masterKey = masterKey
        self.configuration = configuration
        self.schemaReady = schemaReady
        self.logger = logger
    }

    public func run() async throws {
        let client = HTTPClient(configuration: Self.clientConfiguration(self.configuration), backgroundActivityLogger: self.logger)
        await self.loop(client)
        try? await client.shutdown()
    }

    /// An HTTP client for receivers: no redirects (a 3xx is a failed attempt), no decompression,
    /// no connection retries (the next attempt is the retry).
    static func clientConfiguration(_ configuration: Configuration) -> HTTPClient.Configuration {
        let attempt = Self.timeAmount(configuration.attemptTimeout)
        var client = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: min(attempt, .seconds(5)), read: attempt),
            decompression: .disabled
        )
        client.connectionPool.retryConnectionEstablishment = false
        return client
    }

    func loop(_ client: HTTPClient) async {
        // Nothing to deliver until the migrations have created the tables.
        guard await cancelWhenGracefulShutdown({ await self.schemaReady.wait() }) else { return }
        var lastPurge: ContinuousClock.Instant?
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            var claimed = 0
            do {
                claimed = try await self.deliverDue(client)
            } catch {
                self.logger.warning("webhook deliveries could not be claimed", metadata: ["error": "\(String(reflecting: error))"])
            }
            if lastPurge.map({ ContinuousClock.now - $0 >= Self.purgeInterval }) ?? true {
                lastPurge = ContinuousClock.now
                do {
                    let purged = try await self.store.purgeWebhookEvents(olderThanSeconds: Self.seconds(self.configuration.retention))
                    if purged > 0 { self.logger.info("purged old webhook events", metadata: ["count": "\(purged)"]) }
                } catch {
                    self.logger.warning("old webhook events could not be purged", metadata: ["error": "\(String(reflecting: error))"])
                }
            }
            // A full batch means more may be due already.
            if claimed >= self.configuration.batchSize { continue }
            let interval = self.configuration.pollInterval
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }

    /// Claims one batch and runs its attempts concurrently. Returns how many were claimed.
    func deliverDue(_ client: HTTPClient) async throws -> Int {
        let claimSeconds = 2 * Self.seconds(self.configuration.attemptTimeout) + 30
        let due = try await self.store.claimWebhookDeliveries(limit: self.configuration.batchSize, claimSeconds: claimSeconds)
        await withDiscardingTaskGroup { group in
            for delivery in due {
                group.addTask { await self.attempt(delivery, client: client) }
            }
        }
        return due.count
    }

    /// Why an attempt failed, safe to store and show (never a secret).
    struct Failure: Error {
        var status: Int?
        var message: String
    }

    func attempt(_ delivery: ClaimedWebhookDelivery, client: HTTPClient) async {
        var metadata: Logger.Metadata = [
            "tenant": "\(delivery.tenant)", "webhook": "\(delivery.webhook)", "event_id": "evt_\(delivery.eventID)",
            "event_type": "\(delivery.type)", "attempt": "\(delivery.attempts)",
        ]
        guard let url = delivery.url, let sealed = delivery.secretSealed, delivery.enabled else {
            let reason = delivery.url == nil ? "the webhook was deleted" : "the webhook is disabled"
            self.logger.info("webhook delivery skipped: \(reason)", metadata: metadata)
            await self.record { try await self.store.skipWebhookDelivery(delivery, reason: reason) }
            return
        }
        let outcome: Result<Int, Failure>
        do {
            let secret: String
            do {
                secret = try self.masterKey.open(sealed)
            } catch {
                throw Failure(status: nil, message: "the webhook's secret does not open with the master key (sealed under another key?)")
            }
            let body = Self.body(delivery)
            let timestamp = Int64(Date().timeIntervalSince1970)
            var request = HTTPClientRequest(url: url)
            request.method = .POST
            request.headers.add(name: "content-type", value: "application/json")
            request.headers.add(name: "user-agent", value: "Switchyard-Webhooks/1")
            request.headers.add(name: "switchyard-event-id", value: "evt_\(delivery.eventID)")
            request.headers.add(name: "switchyard-event-type", value: delivery.type)
            request.headers.add(name: "switchyard-delivery-attempt", value: String(delivery.attempts))
            request.headers.add(name: WebhookSignature.headerName, value: WebhookSignature.header(secret: secret, timestamp: timestamp, body: body))
            request.body = .bytes(ByteBuffer(bytes: body))
            let status = try await self.send(request, client: client)
            outcome = (200..<300).contains(status) ? .success(status) : .failure(Failure(status: status, message: "the receiver answered \(status)"))
        } catch let failure as Failure {
            outcome = .failure(failure)
        } catch is CancellationError {
            // Shutting down without grace: the claim expires and another attempt follows.
            return
        } catch {
            if Task.isCancelled { return }
            outcome = .failure(Failure(status: nil, message: Self.describe(error)))
        }
        switch outcome {
        case .success(let status):
            metadata["status"] = "\(status)"
            self.logger.info("webhook delivered", metadata: metadata)
            await self.record { try await self.store.markWebhookDelivered(delivery, status: status) }
        case .failure(let failure):
            metadata["status"] = "\(failure.status.map { String($0) } ?? "none")"
            metadata["error"] = "\(failure.message)"
            if delivery.attempts >= self.configuration.maxAttempts {
                self.logger.warning("webhook delivery failed for good", metadata: metadata)
                await self.record {
                    try await self.store.markWebhookAttemptFailed(delivery, status: failure.status, error: failure.message, retryAfterSeconds: nil)
                }
            } else {
                let delay = Self.retryDelay(afterAttempt: delivery.attempts, self.configuration, jitter: Double.random(in: 0.8...1.2))
                metadata["retry_in_s"] = "\(delay)"
                self.logger.notice("webhook delivery attempt failed; will retry", metadata: metadata)
                await self.record {
                    try await self.store.markWebhookAttemptFailed(delivery, status: failure.status, error: failure.message, retryAfterSeconds: delay)
                }
            }
        }
    }

    /// POSTs and returns the answer's status, within `attemptTimeout` overall (the client's own
    /// timeout bounds only the time to the response head).
    func send(_ request: HTTPClientRequest, client: HTTPClient) async throws -> Int {
        let timeout = self.configuration.attemptTimeout
        let logger = self.logger
        return try await withThrowingTaskGroup(of: Int?.self) { group in
            group.addTask {
                let response = try await client.execute(request, timeout: Self.timeAmount(timeout), logger: logger)
                // The answer's body means nothing to us; read a little so the connection can be reused.
                _ = try? await response.body.collect(upTo: 64 * 1024)
                return Int(response.status.code)
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            // Whichever finishes first decides; the other is cancelled (not waited out).
            let first = try await group.next()
            group.cancelAll()
            guard let answered = first, let status = answered else {
                throw Failure(status: nil, message: "no answer within \(Self.milliseconds(timeout)) ms")
            }
            return status
        }
    }

    /// Runs a store write that records an outcome; a failure only delays the delivery (the
    /// claim expires and the delivery is attempted again).
    func record(_ write: () async throws -> Void) async {
        do {
            try await write()
        } catch {
            self.logger.warning("webhook delivery outcome could not be recorded", metadata: ["error": "\(String(reflecting: error))"])
        }
    }

    /// The request body: `{"id","type","created_at","tenant","data"}`, the same bytes on every
    /// attempt (keys sorted).
    static func body(_ delivery: ClaimedWebhookDelivery) -> [UInt8] {
        let data = (try? JSONValue(parsing: delivery.payload.utf8)) ?? [:]
        let envelope: JSONValue = [
            "id": .string("evt_\(delivery.eventID)"), "type": .string(delivery.type), "created_at": AdminAPI.timestamp(delivery.createdAt),
            "tenant": .string(delivery.tenant), "data": data,
        ]
        return envelope.serialized(sortedKeys: true)
    }

    /// The wait before the next attempt after `attempts` failed ones: `firstRetryDelay ×
    /// 2^(attempts-1)`, jittered, at most `maxRetryDelay`. In seconds.
    static func retryDelay(afterAttempt attempts: Int, _ configuration: Configuration, jitter: Double) -> Double {
        let exponent = Double(min(max(attempts - 1, 0), 30))
        let delay = Self.seconds(configuration.firstRetryDelay) * pow(2, exponent) * jitter
        return min(delay, Self.seconds(configuration.maxRetryDelay))
    }

    /// A transport error as a short, secret-free message for the delivery log.
    static func describe(_ error: any Error) -> String {
        String(String(describing: error).prefix(300))
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    static func milliseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1_000 + duration.components.attoseconds / 1_000_000_000_000_000
    }

    static func timeAmount(_ duration: Duration) -> TimeAmount {
        .nanoseconds(duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
    }
}

/// The `switchyard-signature` header: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`,
/// the key being the secret's UTF-8 bytes (`whsec_` included). See `docs/guides/webhooks.md`.
public enum WebhookSignature {
    public static let headerName = "switchyard-signature"

    /// Lower-case hex HMAC-SHA256 of `message` under the UTF-8 bytes of `key`.
    public static func hmacSHA256Hex(key: String, message: [UInt8]) -> String {
        let code = HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: Data(key.utf8)))
        return code.map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }

    /// The header value for `body` sent at `timestamp` (unix seconds).
    public static func header(secret: String, timestamp: Int64, body: [UInt8]) -> String {
        "t=\(timestamp),v1=\(Self.hmacSHA256Hex(key: secret, message: Array("\(timestamp).".utf8) + body))"
    }

    /// Whether `header` signs `body` with `secret`, at most `tolerance` seconds from `now` (which
    /// refuses replays of old deliveries). Compares in constant time.
    public static func verify(header: String, body: [UInt8], secret: String, now: Int64, tolerance: Int64 = 300) -> Bool {
        var timestamp: Int64?
        var signatures: [String] = []
        for part in header.split(separator: ",") {
            let pair = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard pair.count == 2 else { continue }
            if pair[0] == "t" { timestamp = Int64(pair[1]) }
            if pair[0] == "v1" { signatures.append(pair[1]) }
        }
        // Both non-negative, so the difference cannot overflow.
        guard let timestamp, timestamp >= 0, now >= 0, abs(now - timestamp) <= tolerance else { return false }
        let expected = Array(Self.hmacSHA256Hex(key: secret, message: Array("\(timestamp).".utf8) + body).utf8)
        return signatures.contains { signature in
            let given = Array(signature.utf8)
            guard given.count == expected.count else { return false }
            return zip(given, expected).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
        }
    }
}
