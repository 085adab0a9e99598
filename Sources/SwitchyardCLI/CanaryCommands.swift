import ArgumentParser
import Foundation
import NIOHTTP1
import SwitchyardCore

/// `switchyard canary …`: canary rollouts.
struct CanaryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "canary",
        abstract: "Canary rollouts: start, status, pause, resume, promote, abort; simulate the rollback rule.",
        subcommands: [
            StartCommand.self, StatusCommand.self, ActionCommand<Pause>.self, ActionCommand<Resume>.self, ActionCommand<Promote>.self,
            ActionCommand<Abort>.self, SimulateCommand.self,
        ]
    )

    static func path(_ tenant: String, _ alias: String) -> String {
        "/admin/v1/tenants/\(ConfigObject.escape(tenant))/routes/\(ConfigObject.escape(alias))/canary"
    }

    /// One line per fact, then the decisions.
    static func describe(_ canary: JSONValue) -> String {
        let steps = (canary["steps"]?.arrayValue ?? []).compactMap { $0["percent"].flatMap(ApplyCommand.number) }
        let step = Int(canary["step"]?.intValue ?? 0)
        var lines = [
            "canary \(canary["id"]?.intValue ?? 0) on \(canary["route"]?.stringValue ?? "?"): \(canary["state"]?.stringValue ?? "?")",
            "candidate: \(canary["candidate"]?["model"]?.stringValue ?? "?")"
                + (canary["candidate"]?["prompt"]?.stringValue.map { " with prompt \($0)" } ?? ""),
            "steps: "
                + steps.enumerated().map { index, percent in index == step ? "[\(Self.percent(percent))]" : Self.percent(percent) }
                .joined(separator: " → ") + "   now \(Self.percent(canary["percent"].flatMap(ApplyCommand.number) ?? 0))",
            "guardrails: "
                + (canary["guardrails"]?.arrayValue ?? []).map { guardrail in
                    var text = guardrail["kind"]?.stringValue ?? "?"
                    if let bound = guardrail["bound_ms"]?.intValue { text += " > \(bound) ms" }
                    if let bound = guardrail["bound_usd"].flatMap(ApplyCommand.number) { text += " > $\(bound)" }
                    return text + " (tolerance \(Self.percent((guardrail["tolerance"].flatMap(ApplyCommand.number) ?? 0) * 100)))"
                }.joined(separator: ", "),
            "",
        ]
        if let evidence = canary["evidence"]?.arrayValue, !evidence.isEmpty {
            let rows = evidence.map { entry in
                [
                    entry["kind"]?.stringValue ?? "?",
                    "\(entry["baseline"]?["bad"]?.intValue ?? 0)/\(entry["baseline"]?["requests"]?.intValue ?? 0)",
                    "\(entry["candidate"]?["bad"]?.intValue ?? 0)/\(entry["candidate"]?["requests"]?.intValue ?? 0)",
                    entry["e_value"].flatMap(ApplyCommand.number).map { String(format: "%.2f", $0) } ?? "-",
                    entry["threshold"].flatMap(ApplyCommand.number).map { String(format: "%.0f", $0) } ?? "-",
                ]
            }
            lines.append(SpendCommand.table(["GUARDRAIL", "BASELINE BAD", "CANDIDATE BAD", "E-VALUE", "ROLL BACK AT"], rows))
            lines.append("")
        }
        let rows = (canary["decisions"]?.arrayValue ?? []).map { decision in
            [
                decision["at"]?.stringValue ?? "", String((decision["step"]?.intValue ?? 0) + 1), decision["outcome"]?.stringValue ?? "",
                decision["actor"]?.stringValue ?? "", decision["reason"]?.stringValue ?? "",
            ]
        }
        lines.append(SpendCommand.table(["AT", "STEP", "DECISION", "BY", "REASON"], rows))
        return lines.joined(separator: "\n")
    }

    static func percent(_ value: Double) -> String {
        value == value.rounded() ? "\(Int(value)) %" : "\(value) %"
    }

    /// `switchyard canary start`: a canary from a file, or a candidate model and steps.
    struct StartCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "start",
            abstract: "Start a canary on a route.",
            discussion: """
                switchyard canary start ALIAS --tenant T --model gpt-4.1 [--prompt support@4] [--steps 1,5,25,100]
                switchyard canary start ALIAS --tenant T -f canary.yaml     (the admin API's body: candidate, steps, guardrails, alpha)
                """
        )

        @Argument(help: "The route's alias.") var alias: String
        @Option(help: "The route's tenant.") var tenant: String
        @Option(name: .shortAndLong, help: "A YAML or JSON file with the canary ('-' reads standard input).") var file: String?
        @Option(help: "The candidate's model.") var model: String?
        @Option(help: "The candidate's prompt (name@version or name@label).") var prompt: String?
        @Option(help: "The steps, in percent: e.g. 1,5,25,100.") var steps: String?
        @OptionGroup var connection: AdminConnection

        func validate() throws {
            guard (self.file == nil) != (self.model == nil) else { throw ValidationError("give either --model or -f FILE") }
        }

        func body() throws -> JSONValue {
            if let file = self.file {
                guard let document = try ConfigDocuments.values(try readInput(file), name: file).first else {
                    throw ValidationError("\(file) holds no canary")
                }
                return document
            }
            var candidate: [String: JSONValue] = ["model": .string(self.model ?? "")]
            if let prompt = self.prompt { candidate["prompt"] = .string(prompt) }
            var body: [String: JSONValue] = ["candidate": .object(candidate)]
            if let steps = self.steps {
                body["steps"] = .array(
                    try steps.split(separator: ",").map { text in
                        guard let percent = Double(text.trimmingCharacters(in: .whitespaces)) else {
                            throw ValidationError("--steps must be percentages separated by commas, e.g. 1,5,25,100")
                        }
                        return ["percent": .double(percent)]
                    }
                )
            }
            return .object(body)
        }

        func run() async throws {
            try await exitTwoOnError {
                let body = try self.body()
                let canary = try await self.connection.withClient { try await $0.send(.PUT, CanaryCommand.path(self.tenant, self.alias), body).1 }
                say(CanaryCommand.describe(canary))
            }
        }
    }

    /// `switchyard canary status`.
    struct StatusCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "status", abstract: "Show a route's canary: steps, guardrails, decisions.")

        @Argument(help: "The route's alias.") var alias: String
        @Option(help: "The route's tenant.") var tenant: String
        @OptionGroup var connection: AdminConnection

        func run() async throws {
            try await exitTwoOnError {
                let canary = try await self.connection.withClient { try await $0.send(.GET, CanaryCommand.path(self.tenant, self.alias)).1 }
                say(CanaryCommand.describe(canary))
            }
        }
    }

    protocol Action {
        static var name: String { get }
        static var help: String { get }
    }
    enum Pause: Action {
        static let name = "pause"
        static let help = "Hold the canary at its current step."
    }
    enum Resume: Action {
        static let name = "resume"
        static let help = "Let a paused canary run again."
    }
    enum Promote: Action {
        static let name = "promote"
        static let help = "Make the candidate the route's default (a new route revision)."
    }
    enum Abort: Action {
        static let name = "abort"
        static let help = "End the canary: the candidate gets no more traffic."
    }

    /// `switchyard canary pause|resume|promote|abort ALIAS --tenant T [--reason …]`.
    struct ActionCommand<Kind: Action>: AsyncParsableCommand {
        static var configuration: CommandConfiguration { CommandConfiguration(commandName: Kind.name, abstract: Kind.help) }

        @Argument(help: "The route's alias.") var alias: String
        @Option(help: "The route's tenant.") var tenant: String
        @Option(help: "Why (kept with the decision).") var reason: String?
        @OptionGroup var connection: AdminConnection

        func run() async throws {
            try await exitTwoOnError {
                let body: JSONValue = self.reason.map { ["reason": .string($0)] } ?? [:]
                let canary = try await self.connection.withClient {
                    try await $0.send(.POST, CanaryCommand.path(self.tenant, self.alias) + "/" + Kind.name, body).1
                }
                say(CanaryCommand.describe(canary))
            }
        }
    }

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
