public import Foundation
import PostgresNIO
public import SwitchyardCore

/// A canary as stored, with its decisions.
public struct CanaryRecord: Sendable, Hashable {
    public struct Decision: Sendable, Hashable {
        public var step: Int
        public var outcome: String
        public var actor: String
        public var reason: String
        public var evidence: JSONValue
        public var createdAt: Date
    }

    public var id: Int64
    public var tenant: String
    public var alias: String
    public var spec: CanarySpec
    public var state: CanaryState
    public var step: Int
    public var stepStartedAt: Date
    public var createdBy: String
    public var createdAt: Date
    public var endedAt: Date?
    public var decisions: [Decision] = []

    /// The candidate's share of the default branch now (0 once it ended or before it starts).
    public var percent: Double {
        guard self.state == .running || self.state == .paused, self.spec.steps.indices.contains(self.step) else { return 0 }
        return self.spec.steps[self.step].percent
    }
}

/// One cumulative counter row of a node process.
public struct CanaryCounterRow: Sendable, Hashable {
    public var canaryID: Int64
    public var step: Int
    public var candidate: Bool
    public var requests: Int64
    public var bad: [Int64]

    public init(canaryID: Int64, step: Int, candidate: Bool, requests: Int64, bad: [Int64]) {
        self.canaryID = canaryID
        self.step = step
        self.candidate = candidate
        self.requests = requests
        self.bad = bad
    }
}

/// What a hand-made canary action asks for.
public enum CanaryAction: String, Sendable, CaseIterable {
    case pause, resume, promote, abort
}

extension ConfigStore {
    static let canaryColumns = "id, tenant, alias, spec::text, state, step, step_started_at, created_by, created_at, ended_at"

    static func decodeCanaries(_ rows: PostgresRowSequence) async throws -> [CanaryRecord] {
        var result: [CanaryRecord] = []
        for try await (id, tenant, alias, specText, state, step, started, by, created, ended) in rows.decode(
            (Int64, String, String, String, String, Int, Date, String, Date, Date?).self
        ) {
            let spec = try CanarySpec(json: try JSONValue(parsing: specText.utf8))
            result.append(
                CanaryRecord(
                    id: id,
                    tenant: tenant,
                    alias: alias,
                    spec: spec,
                    state: CanaryState(rawValue: state) ?? .aborted,
                    step: step,
                    stepStartedAt: started,
                    createdBy: by,
                    createdAt: created,
                    endedAt: ended
                )
            )
        }
        return result
    }

    /// The route's active canary, else its latest one, with its decisions (oldest first).
    public func canary(tenant: String, alias: String) async throws -> CanaryRecord? {
        let rows = try await self.boundedQuery(
            PostgresQuery(
                unsafeSQL: """
                    SELECT \(Self.canaryColumns) FROM canaries WHERE tenant = $1 AND alias = $2
                    ORDER BY (state IN ('pending', 'running', 'paused')) DESC, id DESC LIMIT 1
                    """,
                binds: {
                    var binds = PostgresBindings()
                    binds.append(tenant)
                    binds.append(alias)
                    return binds
                }()
            ),
            logger: self.logger
        )
        guard var record = try await Self.decodeCanaries(rows).first else { return nil }
        let decisions = try await self.boundedQuery(
            """
            SELECT step, outcome, actor, reason, evidence::text, created_at FROM canary_decisions
            WHERE canary_id = \(record.id) ORDER BY id
            """,
            logger: self.logger
        )
        for try await (step, outcome, actor, reason, evidence, created) in decisions.decode((Int, String, String, String, String, Date).self) {
            record.decisions.append(
                .init(
                    step: step,
                    outcome: outcome,
                    actor: actor,
                    reason: reason,
                    evidence: (try? JSONValue(parsing: evidence.utf8)) ?? .null,
                    createdAt: created
                )
            )
        }
        return record
    }

    /// Starts a canary on a route: its first step takes traffic with the next config version.
    public func startCanary(tenant: String, alias: String, spec: CanarySpec, actor: String) async throws -> (CanaryRecord, Int) {
        let logger = self.logger
        let specText = String(decoding: spec.json.serialized(sortedKeys: true), as: UTF8.self)
        let prompt = spec.candidate.prompt
        let (id, version) = try await self.write(
            .init(
                actor: actor,
                action: "start",
                objectType: "canary",
                objectID: "\(tenant)/\(alias)",
                tenant: tenant,
                detail: spec.json.objectValue ?? [:]
            )
        ) { connection, _ in
            let routeRows = try await connection.query(
                """
                SELECT v.spec::text FROM routes r
                JOIN route_revisions v ON v.tenant = r.tenant AND v.alias = r.alias AND v.revision = r.current_revision
                WHERE r.tenant = \(tenant) AND r.alias = \(alias)
                """,
                logger: logger
            )
            var routeSpec: RouteSpec?
            for try await text in routeRows.decode(String.self) { routeSpec = try RouteSpec(json: try JSONValue(parsing: text.utf8)) }
            guard let routeSpec else { throw StoreError.notFound("route '\(alias)' does not exist in tenant '\(tenant)'") }
            guard routeSpec.withCanary(spec.candidate, percent: 1) != nil else {
                throw StoreError.conflict(
                    "route '\(alias)' has no room for a canary: its default split has \(RouteSpec.maxVariants) variants or one named 'candidate'"
                )
            }
            let model = try await connection.query("SELECT 1 FROM models WHERE name = \(spec.candidate.model)", logger: logger)
            try await Self.requireRow(model, else: StoreError.notFound("model '\(spec.candidate.model)' does not exist"))
            if let prompt {
                let found: PostgresRowSequence
                switch prompt.selector {
                case .version(let number):
                    found = try await connection.query(
                        "SELECT 1 FROM prompt_versions WHERE tenant = \(tenant) AND name = \(prompt.name) AND version = \(number)",
                        logger: logger
                    )
                case .label(let label):
                    found = try await connection.query(
                        "SELECT 1 FROM prompt_labels WHERE tenant = \(tenant) AND name = \(prompt.name) AND label = \(label)",
                        logger: logger
                    )
                }
                try await Self.requireRow(found, else: StoreError.notFound("prompt '\(prompt)' does not exist in tenant '\(tenant)'"))
            }
            let active = try await connection.query(
                "SELECT id FROM canaries WHERE tenant = \(tenant) AND alias = \(alias) AND state IN ('pending', 'running', 'paused')",
                logger: logger
            )
            for try await existing in active.decode(Int64.self) {
                throw StoreError.conflict("route '\(alias)' already has an active canary (\(existing)); abort or promote it first")
            }
            let inserted = try await connection.query(
                """
                INSERT INTO canaries (tenant, alias, spec, state, prompt, prompt_selector, created_by)
                VALUES (\(tenant), \(alias), \(specText)::jsonb, 'running', \(prompt?.name), \(prompt?.selectorText), \(actor))
                RETURNING id
                """,
                logger: logger
            )
            var id: Int64 = 0
            for try await value in inserted.decode(Int64.self) { id = value }
            try await connection.query(
                """
                INSERT INTO canary_decisions (canary_id, step, outcome, actor, reason)
                VALUES (\(id), 0, 'started', \(actor), \("step 1: \(spec.steps[0].percent) %"))
                """,
                logger: logger
            )
            return id
        }
        guard let record = try await self.canary(tenant: tenant, alias: alias), record.id == id else {
            throw StoreError.conflict("canary \(id) was changed meanwhile")
        }
        return (record, version)
    }

    /// Moves an active canary by hand (or for the analysis, with `actor` "analysis"): pause,
    /// resume, abort, or promote (the candidate becomes the route's default in a new revision).
    /// Returns the canary and the config version written (nil when nothing changed).
    public func actOnCanary(
        tenant: String,
        alias: String,
        action: CanaryAction,
        actor: String,
        reason: String = "",
        evidence: JSONValue = [:]
    ) async throws -> (CanaryRecord, Int?) {
        guard let current = try await self.canary(tenant: tenant, alias: alias), current.state.isActive else {
            throw StoreError.notFound("route '\(alias)' has no active canary")
        }
        let next: CanaryState
        switch action {
        case .pause:
            if current.state == .paused { return (current, nil) }
            next = .paused
        case .resume:
            if current.state == .running { return (current, nil) }
            next = .running
        case .abort: next = .aborted
        case .promote: next = .promoted
        }
        var version: Int?
        if action == .promote {
            // The candidate becomes the default: a new revision of the route, audited as such.
            guard let route = try await self.route(tenant: tenant, alias: alias) else {
                throw StoreError.notFound("route '\(alias)' does not exist in tenant '\(tenant)'")
            }
            var spec = route.spec
            spec.defaultBranch = .target(current.spec.candidate)
            version = try await self.putRoute(
                tenant: tenant,
                alias: alias,
                spec: spec,
                comment: "promoted canary \(current.id)",
                mustCreate: false,
                actor: actor
            ).version
        }
        let outcome = next == .promoted ? "promoted" : action == .abort ? "aborted" : action.rawValue + "d"
        let written = try await self.transition(
            current,
            to: next,
            step: current.step,
            outcome: outcome,
            action: action.rawValue,
            actor: actor,
            reason: reason,
            evidence: evidence
        )
        guard let record = try await self.canary(tenant: tenant, alias: alias) else { throw StoreError.notFound("canary \(current.id) is gone") }
        return (record, version ?? written)
    }

    /// Moves a canary to `next` at `step`, records the decision and sends the tenant's
    /// `canary.<outcome>` webhook event, in one transaction. Returns the config version.
    func transition(
        _ current: CanaryRecord,
        to next: CanaryState,
        step: Int,
        outcome: String,
        action: String,
        actor: String,
        reason: String,
        evidence: JSONValue
    ) async throws -> Int {
        let logger = self.logger
        let id = current.id
        let ended = !next.isActive
        let fromStep = current.step
        let tenant = current.tenant
        let alias = current.alias
        let percent = next.isActive && current.spec.steps.indices.contains(step) ? current.spec.steps[step].percent : 0
        let (_, written) = try await self.write(
            .init(
                actor: actor,
                action: action,
                objectType: "canary",
                objectID: "\(tenant)/\(alias)",
                tenant: tenant,
                detail: ["canary": .int(id), "state": .string(next.rawValue), "step": .int(Int64(step)), "reason": .string(reason)]
            )
        ) { connection, _ in
            let rows = try await connection.query(
                """
                UPDATE canaries SET state = \(next.rawValue), step = \(step),
                    ended_at = CASE WHEN \(ended) THEN now() ELSE NULL END,
                    step_started_at = CASE WHEN \(next.rawValue) = 'running' AND (state <> 'running' OR step <> \(step)) THEN now()
                                           ELSE step_started_at END
                WHERE id = \(id) AND state IN ('pending', 'running', 'paused') AND step = \(fromStep)
                RETURNING id
                """,
                logger: logger
            )
            try await Self.requireRow(rows, else: StoreError.conflict("canary \(id) changed meanwhile"))
            let evidenceText = String(decoding: evidence.serialized(sortedKeys: true), as: UTF8.self)
            try await connection.query(
                """
                INSERT INTO canary_decisions (canary_id, step, outcome, actor, reason, evidence)
                VALUES (\(id), \(step), \(outcome), \(actor), \(reason), \(evidenceText)::jsonb)
                """,
                logger: logger
            )
            try await self.enqueueWebhookEvent(
                on: connection,
                tenant: tenant,
                type: "canary.\(outcome)",
                data: [
                    "canary": .int(id), "route": .string(alias), "state": .string(next.rawValue), "step": .int(Int64(step)),
                    "percent": .double(percent), "candidate": current.spec.json["candidate"] ?? .null, "actor": .string(actor),
                    "reason": .string(reason), "evidence": evidence,
                ],
                logger: logger
            )
        }
        return written
    }

    /// The analysis's moves: the next step, or a rollback (the candidate gets no more traffic).
    public func advanceCanary(_ current: CanaryRecord, evidence: JSONValue) async throws {
        _ = try await self.transition(
            current,
            to: .running,
            step: current.step + 1,
            outcome: "advanced",
            action: "advance",
            actor: "analysis",
            reason: "step \(current.step + 1) met its duration and request count with clean evidence",
            evidence: evidence
        )
    }

    public func rollBackCanary(_ current: CanaryRecord, reason: String, evidence: JSONValue) async throws {
        _ = try await self.transition(
            current,
            to: .rolledBack,
            step: current.step,
            outcome: "rolled_back",
            action: "roll_back",
            actor: "analysis",
            reason: reason,
            evidence: evidence
        )
    }

    /// Canaries the analysis judges.
    public func runningCanaries() async throws -> [CanaryRecord] {
        try await Self.decodeCanaries(
            try await self.boundedQuery(
                PostgresQuery(unsafeSQL: "SELECT \(Self.canaryColumns) FROM canaries WHERE state = 'running' ORDER BY id"),
                logger: self.logger
            )
        )
    }

    /// Canaries taking traffic (running or paused), for snapshots.
    static func liveCanaries(_ connection: PostgresConnection, logger: Logger) async throws -> [CanaryRecord] {
        try await Self.decodeCanaries(
            try await connection.query(
                PostgresQuery(unsafeSQL: "SELECT \(Self.canaryColumns) FROM canaries WHERE state IN ('running', 'paused') ORDER BY id"),
                logger: logger
            )
        )
    }
}

extension ConfigStore {
    /// Stores a node process's cumulative counters (keeping the largest value of each, so resent
    /// and reordered reports change nothing) for canaries still running; returns the reported
    /// canaries that have ended.
    public func recordCanaryCounters(holder: String, rows: [CanaryCounterRow]) async throws -> [Int64] {
        guard !rows.isEmpty else { return [] }
        let logger = self.logger
        let client = self.client
        let ids = Array(Set(rows.map(\.canaryID)))
        return try await self.bounded {
            try await client.withTransaction(logger: logger) { connection in
                var live = Set<Int64>()
                for try await id in try await connection.query(
                    "SELECT id FROM canaries WHERE id = ANY(\(ids)) AND state IN ('running', 'paused')",
                    logger: logger
                ).decode(Int64.self) {
                    live.insert(id)
                }
                for row in rows where live.contains(row.canaryID) {
                    try await connection.query(
                        """
                        INSERT INTO canary_counters (canary_id, step, candidate, holder, requests, bad)
                        VALUES (\(row.canaryID), \(row.step), \(row.candidate), \(holder), \(row.requests), \(row.bad))
                        ON CONFLICT (canary_id, step, candidate, holder) DO UPDATE SET
                            requests = GREATEST(canary_counters.requests, EXCLUDED.requests),
                            bad = CASE WHEN EXCLUDED.requests >= canary_counters.requests THEN EXCLUDED.bad ELSE canary_counters.bad END,
                            updated_at = now()
                        """,
                        logger: logger
                    )
                }
                return ids.filter { !live.contains($0) }.sorted()
            }
        }
    }

    /// A canary's counts, per step, summed over every node process: guardrail by guardrail.
    public func canaryCounts(_ canary: CanaryRecord) async throws -> [[GuardrailCounts]] {
        let guardrails = canary.spec.guardrails.count
        var steps = Array(repeating: Array(repeating: GuardrailCounts(), count: guardrails), count: canary.spec.steps.count)
        let rows = try await self.boundedQuery(
            "SELECT step, candidate, requests, bad FROM canary_counters WHERE canary_id = \(canary.id)",
            logger: self.logger
        )
        for try await (step, candidate, requests, bad) in rows.decode((Int, Bool, Int64, [Int64]).self) where steps.indices.contains(step) {
            for index in 0..<guardrails {
                let badCount = index < bad.count ? bad[index] : 0
                if candidate {
                    steps[step][index].candidateRequests += requests
                    steps[step][index].candidateBad += badCount
                } else {
                    steps[step][index].baselineRequests += requests
                    steps[step][index].baselineBad += badCount
                }
            }
        }
        return steps
    }
}
