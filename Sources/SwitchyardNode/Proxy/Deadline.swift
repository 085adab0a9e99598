/// Thrown when an operation outlives its deadline.
struct DeadlineExceeded: Error {}

/// Runs `operation` and cancels it at `deadline`. The operation must honour cancellation (AHC's
/// response body iterator does: a cancelled `next()` ends the stream).
func withDeadline<T: Sendable>(
    _ deadline: ContinuousClock.Instant,
    _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(until: deadline, clock: .continuous)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else { throw DeadlineExceeded() }
        return value
    }
}
