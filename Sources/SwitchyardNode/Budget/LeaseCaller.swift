import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import ServiceLifecycle
import SwiftProtobuf
import SwitchyardCore
import SwitchyardWire
import Synchronization

/// Talks to the control plane's lease endpoint, one call at a time per node, so that many
/// requests short of lease at once make one call, not many.
actor LeaseCaller {
    let client: HTTPClient
    let controlURL: String
    let nodeToken: String
    let nodeID: String
    let bootID: String
    let timeout: Duration
    let logger: Logger

    init(client: HTTPClient, controlURL: String, nodeToken: String, nodeID: String, bootID: String, timeout: Duration, logger: Logger) {
        self.client = client
        self.controlURL = controlURL
        self.nodeToken = nodeToken
        self.nodeID = nodeID
        self.bootID = bootID
        self.timeout = timeout
        self.logger = logger
    }

    /// Whether a call is under way, and who waits for their turn (an actor is reentrant across
    /// `await`: the calls are serialized by hand).
    private var busy = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    private func acquire() async {
        guard self.busy else {
            self.busy = true
            return
        }
        await withCheckedContinuation { self.waiting.append($0) }
    }

    private func release() {
        if self.waiting.isEmpty {
            self.busy = false
        } else {
            self.waiting.removeFirst().resume()
        }
    }

    /// Asks for what the request at hand is short of. Re-checked once the caller's turn comes:
    /// a call made meanwhile may have covered it.
    func refill(_ ledger: BudgetLedger, short: [BudgetLedger.Key: Int64]) async -> [BudgetLedger.Key: BudgetLedger.Refill] {
        await self.acquire()
        defer { self.release() }
        var outcomes: [BudgetLedger.Key: BudgetLedger.Refill] = short.mapValues { _ in .granted }
        for key in ledger.recentlyRefused(short.keys) { outcomes[key] = .refused }
        let items = ledger.items(short: short)
        guard !items.isEmpty else { return outcomes }
        do {
            let answers = try await self.send(ledger, items: items, usage: nil)
            for (sent, answer) in zip(items, answers) {
                if answer.unknown {
                    outcomes[sent.key] = .gone
                } else if answer.granted - sent.granted >= sent.item.needMicros {
                    outcomes[sent.key] = .granted
                } else {
                    outcomes[sent.key] = .refused
                    ledger.noteRefused(sent.key)
                }
            }
        } catch {
            self.logger.warning("budget lease request failed", metadata: ["error": "\(error)"])
            for sent in items { outcomes[sent.key] = .unreachable }
        }
        return outcomes
    }

    /// Reports spend and tops leases up (the reporter's periodic call).
    func report(_ ledger: BudgetLedger, final: Bool = false) async {
        await self.acquire()
        defer { self.release() }
        let items = ledger.items(short: nil, releaseAll: final)
        let usage = ledger.usage.withLock { $0.batch() }
        guard !items.isEmpty || usage != nil else { return }
        do {
            _ = try await self.send(ledger, items: items, usage: usage)
            if let usage { ledger.usage.withLock { $0.acknowledge(usage.seq) } }
        } catch {
            self.logger.debug("budget report failed; kept for the next one", metadata: ["error": "\(error)"])
        }
    }

    struct Answer {
        var granted: Int64
        var unknown: Bool
    }

    private func send(
        _ ledger: BudgetLedger,
        items: [(key: BudgetLedger.Key, item: LeaseAsk, spent: Int64, granted: Int64)],
        usage: (seq: UInt64, rows: [UsageBuffer.Row: UsageBuffer.Totals])?
    ) async throws -> [Answer] {
        var message = Switchyard_V1_LeaseRequest()
        message.nodeID = self.nodeID
        message.bootID = self.bootID
        message.items = items.map { entry in
            .with {
                $0.tenant = entry.item.tenant
                $0.budget = entry.item.budget
                $0.window = entry.item.window
                $0.spentMicros = entry.item.spentMicros
                $0.needMicros = entry.item.needMicros
                $0.wantMicros = entry.item.wantMicros
                $0.unitMicros = entry.item.unitMicros
                $0.release = entry.item.release
            }
        }
        if let usage {
            message.usageSeq = usage.seq
            message.usage = usage.rows.map { row, totals in
                .with {
                    $0.day = row.day
                    $0.tenant = row.tenant
                    $0.keyID = row.keyID
                    $0.route = row.route
                    $0.model = row.model
                    $0.requests = totals.requests
                    $0.promptTokens = totals.promptTokens
                    $0.completionTokens = totals.completionTokens
                    $0.costMicros = totals.costMicros
                }
            }
        }
        var request = HTTPClientRequest(url: self.controlURL + "/node/v1/lease")
        request.method = .POST
        request.headers.add(name: "authorization", value: "Bearer \(self.nodeToken)")
        request.headers.add(name: "content-type", value: "application/x-protobuf")
        request.body = .bytes(ByteBuffer(data: try message.serializedData()))
        let response = try await self.client.execute(request, timeout: .milliseconds(self.timeout.milliseconds))
        let body = try await response.body.collect(upTo: 1 << 20)
        let receivedAt = ContinuousClock.now
        guard response.status == .ok else { throw LeaseError("control plane answered \(response.status.code) to a lease request") }
        let answer = try Switchyard_V1_LeaseResponse(serializedBytes: Data(buffer: body))
        guard answer.grants.count == items.count else { throw LeaseError("lease answer has \(answer.grants.count) grants for \(items.count) items") }
        ledger.apply(
            zip(items, answer.grants).map { sent, grant in
                (sent.key, sent.spent, sent.item.release, grant.grantedMicros, grant.windowSpentMicros, grant.unknown)
            },
            ttl: .milliseconds(answer.ttlMs),
            receivedAt: receivedAt
        )
        return answer.grants.map { Answer(granted: $0.grantedMicros, unknown: $0.unknown) }
    }
}

struct LeaseError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Reports spend and keeps leases topped up every `interval`, and hands idle ones back.
struct LeaseReporter: Service {
    let ledger: BudgetLedger
    let interval: Duration

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: self.interval)
                await self.ledger.caller.report(self.ledger)
            }
        }
        // A last report on the way out: settled spend reported, unused leases handed back.
        await self.ledger.caller.report(self.ledger, final: true)
    }
}
