import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import SwitchyardCore

/// Judges running canaries after every report interval and acts on the outcome: the next step,
/// promotion after the last one, a pause when the evidence is inconclusive, a rollback when a
/// guardrail's evidence crosses its threshold (docs/canary.md).
///
/// Every replica runs this loop; a round runs only in the replica that holds a transaction-scoped
/// Postgres advisory lock for it, so at most one replica judges at a time, and when a replica
/// dies the next round simply runs in another one. No connection is held between rounds, and a
/// round is bounded in time, so a database outage can neither hang the loop nor shutdown.
struct CanaryAnalyzer: Service {
    /// The advisory lock's key: "swyd-can" as a 64-bit integer.
    static let lockKey: Int64 = 0x7377_7964_2D63_616E

    let store: ConfigStore
    let interval: Duration
    let schemaReady: SchemaGate
    let logger: Logger

    func run() async throws {
        guard await cancelWhenGracefulShutdown({ await self.schemaReady.wait() }) else { return }
        await cancelWhenGracefulShutdown {
            var failing = false
            while !Task.isCancelled {
                do {
                    try await self.roundIfLeader()
                    failing = false
                } catch is CancellationError {
                    return
                } catch {
                    // Once per outage, not once per round.
                    if !failing { self.logger.warning("canary analysis round failed", metadata: ["error": "\(String(reflecting: error))"]) }
                    failing = true
                }
                try? await Task.sleep(for: self.interval)
            }
        }
    }

    /// Runs one round if no other replica is running one.
    func roundIfLeader() async throws {
        let client = self.store.client
        let logger = self.logger
        try await self.store.bounded {
            try await client.withTransaction(logger: logger) { connection in
                var leader = false
                for try await held in try await connection.query("SELECT pg_try_advisory_xact_lock(\(Self.lockKey))", logger: logger).decode(
                    Bool.self
                ) {
                    leader = held
                }
                guard leader else { return }
                await self.analyzeOnce()
            }
        }
    }

    /// One round over every running canary.
    func analyzeOnce(now: Date = Date()) async {
        let canaries: [CanaryRecord]
        do {
            canaries = try await self.store.runningCanaries()
        } catch {
            self.logger.warning("cannot list canaries", metadata: ["error": "\(error)"])
            return
        }
        for canary in canaries {
            do {
                try await self.judge(canary, now: now)
            } catch {
                self.logger.warning("canary judgement failed", metadata: ["canary": "\(canary.id)", "error": "\(error)"])
            }
        }
    }

    func judge(_ canary: CanaryRecord, now: Date) async throws {
        let counts = try await self.store.canaryCounts(canary)
        let (outcome, evidence) = CanaryJudgement.judge(
            canary.spec,
            step: canary.step,
            counts: counts,
            stepSeconds: now.timeIntervalSince(canary.stepStartedAt)
        )
        let record: JSONValue = ["guardrails": .array(evidence.map(\.json))]
        switch outcome {
        case .hold:
            return
        case .rollBack(let index):
            let worst = evidence[index]
            let reason =
                "\(worst.guardrail.kind.rawValue): candidate \(worst.counts.candidateBad)/\(worst.counts.candidateRequests) bad vs baseline "
                + "\(worst.counts.baselineBad)/\(worst.counts.baselineRequests); e-value \(Self.format(exp(worst.logEValue))) ≥ \(Self.format(exp(worst.logThreshold)))"
            self.logger.warning(
                "rolling back canary",
                metadata: ["canary": "\(canary.id)", "route": "\(canary.tenant)/\(canary.alias)", "reason": "\(reason)"]
            )
            try await self.store.rollBackCanary(canary, reason: reason, evidence: record)
        case .inconclusive(let index):
            let doubtful = evidence[index]
            let reason =
                "inconclusive: \(doubtful.guardrail.kind.rawValue) e-value \(Self.format(exp(doubtful.logEValue))) is neither clean nor past "
                + "\(Self.format(exp(doubtful.logThreshold))) at the end of step \(canary.step + 1)"
            _ = try await self.store.actOnCanary(
                tenant: canary.tenant,
                alias: canary.alias,
                action: .pause,
                actor: "analysis",
                reason: reason,
                evidence: record
            )
        case .advance:
            if canary.step + 1 < canary.spec.steps.count {
                try await self.store.advanceCanary(canary, evidence: record)
            } else {
                _ = try await self.store.actOnCanary(
                    tenant: canary.tenant,
                    alias: canary.alias,
                    action: .promote,
                    actor: "analysis",
                    reason: "every step met its duration and request count with clean evidence",
                    evidence: record
                )
            }
        }
    }

    static func format(_ value: Double) -> String {
        value >= 1_000 ? String(format: "%.3g", value) : String(format: "%.2f", value)
    }
}
