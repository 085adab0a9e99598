/// Simulates canaries to measure a rollback rule: how often it rolls back a candidate as good as
/// the baseline, and how many candidate requests it takes to roll back a bad one
/// (`switchyard canary simulate`, docs/canary.md).
///
/// Traffic comes in reports (what nodes send every 2 s); each request goes to the candidate with
/// probability `split` and is a bad event (an error) at its variant's rate. The rule is checked
/// after every report, as the control plane does.
public struct CanarySimulation: Sendable {
    public enum Rule: Sendable, Hashable {
        /// Switchyard's: the anytime-valid sequential test (``SequentialTest``).
        case sequential(alpha: Double, tolerance: Double)
        /// A fixed threshold in the style of Flagger/Argo analysis: once the candidate has
        /// `window` requests, roll back when its bad-event rate over its last `window` requests
        /// exceeds `factor` times the baseline's rate so far.
        case threshold(window: Int, factor: Double)

        public var label: String {
            switch self {
            case .sequential(let alpha, let tolerance): "sequential test (α = \(alpha), tolerance \(Int((tolerance * 100).rounded())) %)"
            case .threshold(let window, let factor): "fixed threshold (last \(window) candidate requests > \(factor)× baseline)"
            }
        }
    }

    public struct Scenario: Sendable, Hashable {
        public var name: String
        public var baselineRate: Double
        public var candidateRate: Double

        public init(name: String, baselineRate: Double, candidateRate: Double) {
            self.name = name
            self.baselineRate = baselineRate
            self.candidateRate = candidateRate
        }

        /// The three the canary design is judged by.
        public static let standard: [Scenario] = [
            Scenario(name: "identical (1 % errors both)", baselineRate: 0.01, candidateRate: 0.01),
            Scenario(name: "hard failure (1 % → 100 %)", baselineRate: 0.01, candidateRate: 1),
            Scenario(name: "regression (1 % → 5 %)", baselineRate: 0.01, candidateRate: 0.05),
        ]
    }

    public struct Result: Sendable, Hashable {
        public var scenario: Scenario
        public var rule: Rule
        public var trials: Int
        /// Trials that ended in a rollback.
        public var rollbacks: Int
        /// Candidate requests served when each rollback happened, ascending.
        public var candidateRequestsAtRollback: [Int]

        public var rollbackRate: Double { self.trials > 0 ? Double(self.rollbacks) / Double(self.trials) : 0 }

        public func percentile(_ fraction: Double) -> Int? {
            guard !self.candidateRequestsAtRollback.isEmpty else { return nil }
            let index = Int((Double(self.candidateRequestsAtRollback.count - 1) * fraction).rounded(.down))
            return self.candidateRequestsAtRollback[index]
        }

        public var median: Int? { self.percentile(0.5) }
    }

    public var split: Double
    /// Requests (both variants) per node report.
    public var requestsPerReport: Int
    /// A trial stops (no rollback) once the candidate has served this many requests.
    public var horizon: Int
    public var trials: Int
    public var seed: UInt64

    public init(split: Double = 0.1, requestsPerReport: Int = 20, horizon: Int = 2_000, trials: Int = 1_000, seed: UInt64 = 1) {
        self.split = split
        self.requestsPerReport = requestsPerReport
        self.horizon = horizon
        self.trials = trials
        self.seed = seed
    }

    public func run(_ scenario: Scenario, rule: Rule) -> Result {
        var random = SplitMix64(seed: self.seed)
        var rollbacks: [Int] = []
        for _ in 0..<self.trials {
            if let at = self.trial(scenario, rule: rule, random: &random) { rollbacks.append(at) }
        }
        return Result(
            scenario: scenario,
            rule: rule,
            trials: self.trials,
            rollbacks: rollbacks.count,
            candidateRequestsAtRollback: rollbacks.sorted()
        )
    }

    /// One canary; the candidate requests served when it was rolled back, or nil.
    func trial(_ scenario: Scenario, rule: Rule, random: inout SplitMix64) -> Int? {
        var counts = GuardrailCounts()
        var recent: [Bool] = []  // the candidate's outcomes, for the threshold rule
        var lastBad: Int64 = -1
        while counts.candidateRequests < self.horizon {
            for _ in 0..<self.requestsPerReport {
                if random.unit() < self.split {
                    let bad = random.unit() < scenario.candidateRate
                    counts.candidateRequests += 1
                    if bad { counts.candidateBad += 1 }
                    if case .threshold = rule { recent.append(bad) }
                } else {
                    counts.baselineRequests += 1
                    if random.unit() < scenario.baselineRate { counts.baselineBad += 1 }
                }
            }
            switch rule {
            case .sequential(let alpha, let tolerance):
                // Only a new bad event can move the evidence far: skip the rest.
                let bad = counts.baselineBad + counts.candidateBad
                guard bad != lastBad else { continue }
                lastBad = bad
                if SequentialTest.rejects([counts], tolerance: tolerance, alpha: alpha) { return Int(counts.candidateRequests) }
            case .threshold(let window, let factor):
                guard recent.count >= window else { continue }
                if recent.count > window { recent.removeFirst(recent.count - window) }
                let candidateRate = Double(recent.filter { $0 }.count) / Double(window)
                let baselineRate = counts.baselineRequests > 0 ? Double(counts.baselineBad) / Double(counts.baselineRequests) : 0
                if candidateRate > factor * baselineRate { return Int(counts.candidateRequests) }
            }
        }
        return nil
    }
}
