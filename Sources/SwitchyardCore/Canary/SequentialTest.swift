import Foundation

/// Bad-event counts of one guardrail while the candidate served one share of traffic (a canary
/// step): requests and bad events of the baseline and of the candidate.
public struct GuardrailCounts: Sendable, Hashable {
    public var baselineRequests: Int64
    public var baselineBad: Int64
    public var candidateRequests: Int64
    public var candidateBad: Int64

    public init(baselineRequests: Int64 = 0, baselineBad: Int64 = 0, candidateRequests: Int64 = 0, candidateBad: Int64 = 0) {
        self.baselineRequests = baselineRequests
        self.baselineBad = baselineBad
        self.candidateRequests = candidateRequests
        self.candidateBad = candidateBad
    }

    public static func + (lhs: Self, rhs: Self) -> Self {
        Self(
            baselineRequests: lhs.baselineRequests + rhs.baselineRequests,
            baselineBad: lhs.baselineBad + rhs.baselineBad,
            candidateRequests: lhs.candidateRequests + rhs.candidateRequests,
            candidateBad: lhs.candidateBad + rhs.candidateBad
        )
    }

    /// The candidate's share of the requests (0 when there were none).
    public var candidateShare: Double {
        let total = self.baselineRequests + self.candidateRequests
        return total > 0 ? Double(self.candidateRequests) / Double(total) : 0
    }
}

/// An anytime-valid sequential test of "the candidate's bad-event rate is at most (1 + tolerance)
/// times the baseline's", for canaries (docs/canary.md).
///
/// Only bad events carry evidence. Given that a bad event happened while the candidate served a
/// share `s` of the requests, it came from the candidate with probability
/// `p(θ) = θs / (θs + 1 − s)`, where θ is the ratio of the two rates. The null hypothesis is
/// θ ≤ θ₀ = 1 + tolerance. The e-value is a mixture, over a prior on θ > θ₀, of the likelihood
/// ratio of the bad events' origins under θ against θ₀: a non-negative supermartingale under the
/// null, so by Ville's inequality the chance that it *ever* reaches 1/α is at most α, however
/// often it is checked. Steps with different shares contribute their own `s`, so the test runs
/// across a whole rollout.
public enum SequentialTest {
    /// The prior's support: θ/θ₀ on a log grid up to 1 000 (a candidate 1 000 times as bad).
    static let grid: [Double] = (1...48).map { exp(Double($0) * log(1_000) / 48) }

    /// The natural log of the e-value for `steps` (each with its own candidate share).
    public static func logEValue(_ steps: [GuardrailCounts], tolerance: Double) -> Double {
        let theta0 = 1 + max(0, tolerance)
        // Only steps with bad events and traffic on both sides say anything.
        let informative = steps.filter { $0.baselineBad + $0.candidateBad > 0 && $0.candidateShare > 0 && $0.candidateShare < 1 }
        guard !informative.isEmpty else { return 0 }
        func logLikelihood(_ theta: Double) -> Double {
            var total = 0.0
            for step in informative {
                let share = step.candidateShare
                let p = theta * share / (theta * share + 1 - share)
                total += Double(step.candidateBad) * log(p) + Double(step.baselineBad) * log1p(-p)
            }
            return total
        }
        let null = logLikelihood(theta0)
        // log of the prior-weighted mean of exp(ratio): uniform weights over the grid.
        let ratios = Self.grid.map { logLikelihood(theta0 * $0) - null }
        let top = ratios.max() ?? 0
        let mean = ratios.reduce(0) { $0 + exp($1 - top) } / Double(ratios.count)
        return top + log(mean)
    }

    /// Whether the evidence rejects the null at level `alpha` (e-value ≥ 1/α).
    public static func rejects(_ steps: [GuardrailCounts], tolerance: Double, alpha: Double) -> Bool {
        Self.logEValue(steps, tolerance: tolerance) >= log(1 / alpha)
    }
}

/// A small, fast, seedable random number generator (SplitMix64), so simulations repeat exactly.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    var state: UInt64

    public init(seed: UInt64) {
        self.state = seed
    }

    public mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform value in [0, 1).
    public mutating func unit() -> Double {
        Double(self.next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
    }
}

/// What the analysis decides for a running canary after a report (docs/canary.md).
public enum CanaryJudgement {
    public enum Outcome: Sendable, Hashable {
        /// Keep serving the current step.
        case hold
        /// The step is done and clean: next step (or, after the last, promote).
        case advance
        /// The step is done but a guardrail's evidence is neither clear nor clean: pause, alert.
        case inconclusive(guardrail: Int)
        /// A guardrail's evidence crossed its threshold: roll back.
        case rollBack(guardrail: Int)
    }

    /// One guardrail's evidence over the whole rollout so far.
    public struct Evidence: Sendable, Hashable {
        public var guardrail: CanarySpec.Guardrail
        public var counts: GuardrailCounts
        public var logEValue: Double
        /// Roll back at or above this (log of 1/α per guardrail).
        public var logThreshold: Double

        public var json: JSONValue {
            var object: [String: JSONValue] = [
                "kind": .string(self.guardrail.kind.rawValue), "tolerance": .double(self.guardrail.tolerance),
                "baseline": ["requests": .int(self.counts.baselineRequests), "bad": .int(self.counts.baselineBad)],
                "candidate": ["requests": .int(self.counts.candidateRequests), "bad": .int(self.counts.candidateBad)],
                "e_value": .double((exp(self.logEValue) * 1_000).rounded() / 1_000),
                "threshold": .double((exp(self.logThreshold) * 1_000).rounded() / 1_000),
            ]
            if let bound = self.guardrail.boundMs { object["bound_ms"] = .int(Int64(bound)) }
            if let bound = self.guardrail.boundMicros { object["bound_usd"] = .double(BudgetConfig.usd(bound)) }
            return .object(object)
        }
    }

    /// Judges a canary at `step` from its counts (per step, per guardrail), `stepSeconds` into the
    /// step. α is split evenly between the guardrails, so the chance that any of them rolls back
    /// a candidate no worse than tolerated stays at most α.
    public static func judge(_ spec: CanarySpec, step: Int, counts: [[GuardrailCounts]], stepSeconds: Double) -> (Outcome, [Evidence]) {
        let alpha = spec.alpha / Double(max(1, spec.guardrails.count))
        let threshold = log(1 / alpha)
        let upTo = counts.prefix(step + 1)
        let evidence = spec.guardrails.enumerated().map { index, guardrail in
            let perStep = upTo.map { index < $0.count ? $0[index] : GuardrailCounts() }
            return Evidence(
                guardrail: guardrail,
                counts: perStep.reduce(GuardrailCounts(), +),
                logEValue: SequentialTest.logEValue(perStep, tolerance: guardrail.tolerance),
                logThreshold: threshold
            )
        }
        if let worst = evidence.indices.filter({ evidence[$0].logEValue >= threshold }).max(by: { evidence[$0].logEValue < evidence[$1].logEValue }) {
            return (.rollBack(guardrail: worst), evidence)
        }
        guard spec.steps.indices.contains(step) else { return (.hold, evidence) }
        let current = counts.indices.contains(step) ? counts[step].first ?? GuardrailCounts() : GuardrailCounts()
        guard stepSeconds >= Double(spec.steps[step].minDurationSeconds), current.candidateRequests >= Int64(spec.steps[step].minRequests) else {
            return (.hold, evidence)
        }
        // Halfway (in log terms) to a rollback is not a clean bill: stop and let a human look.
        if let doubtful = evidence.indices.first(where: { evidence[$0].logEValue >= threshold / 2 }) {
            return (.inconclusive(guardrail: doubtful), evidence)
        }
        return (.advance, evidence)
    }
}
