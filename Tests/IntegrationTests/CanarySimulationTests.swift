import ArgumentParser
import Foundation
import SwitchyardCore
import Testing

@testable import SwitchyardCLI

/// The canary rollback rule, measured the way docs/canary.md reports it: `switchyard canary
/// simulate` with a 10 % split and a check after every report.
struct CanarySimulationTests {
    @Test func simulateCommandMeetsTheRollbackTargets() throws {
        // Fewer trials than the command's default, to keep a debug-build test quick; the bounds
        // leave room for the sampling error of 400 trials.
        let command = try CanaryCommand.SimulateCommand.parse(["--trials", "400", "--horizon", "2000"])
        let results = command.results()
        func result(_ scenario: String, sequential: Bool) throws -> CanarySimulation.Result {
            try #require(
                results.first { result in
                    guard result.scenario.name.hasPrefix(scenario) else { return false }
                    if case .sequential = result.rule { return sequential }
                    return !sequential
                }
            )
        }
        let identical = try result("identical", sequential: true)
        #expect(identical.rollbackRate <= 0.05, "false rollbacks \(identical.rollbackRate)")
        let hard = try result("hard failure", sequential: true)
        #expect(hard.rollbackRate == 1)
        #expect((hard.median ?? .max) <= 10 && (hard.percentile(0.9) ?? .max) <= 10, "\(hard.candidateRequestsAtRollback.suffix(5))")
        let regression = try result("regression", sequential: true)
        #expect(regression.rollbackRate >= 0.95)
        #expect((regression.median ?? .max) <= 200, "median \(String(describing: regression.median))")
        // The naive rule, side by side: it rolls back good candidates far more often and needs a
        // full window before it can act on a broken one.
        let naiveIdentical = try result("identical", sequential: false)
        #expect(naiveIdentical.rollbackRate > 4 * identical.rollbackRate + 0.1, "naive false rollbacks \(naiveIdentical.rollbackRate)")
        #expect((try result("hard failure", sequential: false).median ?? 0) >= 50)
        let text = CanaryCommand.SimulateCommand.report(results, simulation: command.simulation)
        #expect(text.contains("sequential test") && text.contains("fixed threshold") && text.contains("hard failure"))
    }

    @Test func sequentialEvidenceBehaves() {
        // No bad events, or bad events only where nothing is compared: no evidence.
        #expect(SequentialTest.logEValue([], tolerance: 0) == 0)
        #expect(SequentialTest.logEValue([GuardrailCounts(baselineRequests: 900, candidateRequests: 100)], tolerance: 0) == 0)
        // Bad events spread as the traffic is: no evidence against the null.
        let even = GuardrailCounts(baselineRequests: 9_000, baselineBad: 90, candidateRequests: 1_000, candidateBad: 10)
        #expect(SequentialTest.logEValue([even], tolerance: 0) < log(2))
        // Every bad event on the candidate: strong evidence, and more of it is stronger.
        let three = GuardrailCounts(baselineRequests: 27, candidateRequests: 3, candidateBad: 3)
        let six = GuardrailCounts(baselineRequests: 54, candidateRequests: 6, candidateBad: 6)
        #expect(SequentialTest.rejects([three], tolerance: 0.2, alpha: 0.05))
        #expect(SequentialTest.logEValue([six], tolerance: 0.2) > SequentialTest.logEValue([three], tolerance: 0.2))
        // A tolerance makes the same counts weaker evidence.
        let some = GuardrailCounts(baselineRequests: 9_000, baselineBad: 90, candidateRequests: 1_000, candidateBad: 30)
        #expect(SequentialTest.logEValue([some], tolerance: 0) > SequentialTest.logEValue([some], tolerance: 1))
        // Steps at different shares add up.
        let small = GuardrailCounts(baselineRequests: 990, baselineBad: 10, candidateRequests: 10, candidateBad: 2)
        let large = GuardrailCounts(baselineRequests: 950, baselineBad: 9, candidateRequests: 50, candidateBad: 4)
        #expect(SequentialTest.logEValue([small, large], tolerance: 0) > SequentialTest.logEValue([small], tolerance: 0))
    }
}
