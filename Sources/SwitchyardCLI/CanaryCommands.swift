import ArgumentParser
import Foundation
import SwitchyardCore

/// `switchyard canary …`: canary rollouts.
struct CanaryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "canary",
        abstract: "Canary rollouts: simulate the rollback rule.",
        subcommands: [SimulateCommand.self]
    )

    /// `switchyard canary simulate`: the rollback rule against simulated traffic, next to a fixed
    /// threshold rule (docs/canary.md).
    struct SimulateCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "simulate",
            abstract: "Measure the canary rollback rule on simulated traffic, next to a naive fixed-threshold rule.",
            discussion: """
                For a candidate on --split of the traffic, checked after every node report of --requests-per-report requests:
                the false-rollback rate when candidate and baseline are identical (1 % errors each), and the candidate requests
                needed to roll back a hard failure (100 % errors) and a regression (1 % -> 5 % errors). Deterministic for a --seed.
                """
        )

        @Option(help: "The candidate's share of traffic.") var split = 0.1
        @Option(help: "Requests (both variants) per node report.") var requestsPerReport = 20
        @Option(help: "Candidate requests after which a trial ends without a rollback.") var horizon = 2_000
        @Option(help: "Trials per scenario and rule.") var trials = 1_000
        @Option(help: "Significance level of the sequential test.") var alpha = 0.05
        @Option(help: "Tolerated ratio over the baseline's error rate, minus one (0.2: 20 % worse is tolerated).") var tolerance = 0.2
        @Option(help: "Window of the fixed-threshold rule, in candidate requests.") var window = 50
        @Option(help: "Random seed.") var seed: UInt64 = 1

        func validate() throws {
            guard self.split > 0, self.split < 1 else { throw ValidationError("--split must be between 0 and 1") }
            guard self.requestsPerReport >= 1, self.horizon >= 1, self.trials >= 1, self.window >= 1 else {
                throw ValidationError("--requests-per-report, --horizon, --trials and --window must be at least 1")
            }
            guard self.alpha > 0, self.alpha < 1 else { throw ValidationError("--alpha must be between 0 and 1") }
            guard self.tolerance >= 0 else { throw ValidationError("--tolerance must not be negative") }
        }

        func run() {
            say(Self.report(self.results(), simulation: self.simulation))
        }

        var simulation: CanarySimulation {
            CanarySimulation(
                split: self.split,
                requestsPerReport: self.requestsPerReport,
                horizon: self.horizon,
                trials: self.trials,
                seed: self.seed
            )
        }

        var rules: [CanarySimulation.Rule] {
            [.sequential(alpha: self.alpha, tolerance: self.tolerance), .threshold(window: self.window, factor: 1 + self.tolerance)]
        }

        func results() -> [CanarySimulation.Result] {
            CanarySimulation.Scenario.standard.flatMap { scenario in self.rules.map { self.simulation.run(scenario, rule: $0) } }
        }

        /// The results as a table: one row per scenario and rule.
        static func report(_ results: [CanarySimulation.Result], simulation: CanarySimulation) -> String {
            var lines = [
                "split \(Int((simulation.split * 100).rounded())) %, \(simulation.requestsPerReport) requests a report, checked after every report;"
                    + " \(simulation.trials) trials, horizon \(simulation.horizon) candidate requests, seed \(simulation.seed)",
                "",
            ]
            let rows = results.map { result in
                [
                    result.scenario.name, result.rule.label, String(format: "%.1f %%", result.rollbackRate * 100),
                    result.median.map(String.init) ?? "-", result.percentile(0.9).map(String.init) ?? "-",
                ]
            }
            lines.append(SpendCommand.table(["SCENARIO", "RULE", "ROLLED BACK", "MEDIAN CANDIDATE REQUESTS", "P90"], rows))
            return lines.joined(separator: "\n")
        }
    }
}
