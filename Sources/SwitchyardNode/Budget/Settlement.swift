import Foundation
import SwitchyardCore
import Synchronization

/// One request's budget reservation and spend, settled exactly once: when a complete answer was
/// sent, when a stream ends, or, if neither happened (the response was dropped), when released —
/// then at the full reservation, which never undercounts.
final class Settlement: Sendable {
    struct State {
        var costMicros: Int64 = 0
        var promptTokens: Int64 = 0
        var completionTokens: Int64 = 0
        var model: String?
        var answered = false
        var usageKnown = false
        var streaming = false
        var done = false
    }

    let ledger: BudgetLedger
    let reservation: BudgetLedger.Reservation
    /// The capacity reservation of the credential that answered, settled with the rest.
    let capacity = Mutex<BudgetLedger.Reservation?>(nil)
    /// The spend row, without the model (known once a target answered).
    let row: UsageBuffer.Row
    let state = Mutex(State())
    /// When the request was served: its cost uses the prices in force then.
    let servedAtUnixMs: Int64

    init(ledger: BudgetLedger, reservation: BudgetLedger.Reservation, row: UsageBuffer.Row, servedAtUnixMs: Int64) {
        self.servedAtUnixMs = servedAtUnixMs
        self.ledger = ledger
        self.reservation = reservation
        self.row = row
    }

    /// A target answered; `usage` when the provider reported it.
    func answered(by model: ModelConfig, usage: Usage?) {
        self.state.withLock { state in
            state.answered = true
            state.model = model.name
            if let usage {
                state.usageKnown = true
                state.promptTokens = Int64(usage.promptTokens)
                state.completionTokens = Int64(usage.completionTokens)
                state.costMicros = model.costMicros(
                    promptTokens: usage.promptTokens,
                    completionTokens: usage.completionTokens,
                    cachedTokens: usage.cachedTokens,
                    atUnixMs: self.servedAtUnixMs
                )
            }
        }
    }

    /// The response is a stream: its body settles when it ends.
    func handOffToStream() {
        self.state.withLock { $0.streaming = true }
    }

    /// Settles now unless a stream took the settlement over.
    func finishUnlessStreaming() {
        if self.state.withLock({ $0.streaming }) { return }
        self.finish()
    }

    func finish() {
        let done: State? = self.state.withLock { state in
            guard !state.done else { return nil }
            state.done = true
            return state
        }
        guard let done else { return }
        self.settle(done)
    }

    /// The request's cost once settled with a reported usage (nil before, or for a stream still running).
    var settledCost: Int64? {
        self.state.withLock { state in state.done && state.usageKnown ? state.costMicros : nil }
    }

    /// The answering credential's capacity reservation: settled when the request is.
    func holdCapacity(_ reservation: BudgetLedger.Reservation) {
        self.capacity.withLock { $0 = reservation }
    }

    private func settle(_ state: State) {
        // An answer without a usage report is charged its reservation (its worst case).
        let actual = BudgetLedger.Actual(
            answered: state.answered,
            costMicros: state.usageKnown ? state.costMicros : nil,
            tokens: state.usageKnown ? state.promptTokens + state.completionTokens : nil
        )
        self.ledger.settle(self.reservation, actual: actual)
        if let capacity = self.capacity.withLock({ $0 }) { self.ledger.settle(capacity, actual: actual) }
        if state.answered, let model = state.model {
            var row = self.row
            row.model = model
            let cost = state.usageKnown ? state.costMicros : self.reservation.usdAmount
            self.ledger.recordUsage(row, promptTokens: state.promptTokens, completionTokens: state.completionTokens, costMicros: cost)
        }
    }

    deinit {
        let state = self.state.withLock { $0 }
        guard !state.done else { return }
        // Dropped before it settled (a stream whose body never ran): charge the worst case.
        self.ledger.settle(self.reservation, actual: .worstCase)
        if let capacity = self.capacity.withLock({ $0 }) { self.ledger.settle(capacity, actual: .worstCase) }
    }
}
