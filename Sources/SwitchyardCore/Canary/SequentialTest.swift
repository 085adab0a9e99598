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
