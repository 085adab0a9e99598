import Foundation
import Logging
import Synchronization

/// Records every log line of the in-process servers (at every level) while a test asks for it,
/// so a test can prove what never appears in a log. Lines at the configured level still go to
/// standard error as usual.
public enum LogCapture {
    struct State {
        var active = 0
        var lines: [String] = []
    }

    static let state = Mutex(State())

    /// Runs `body` and returns the log lines written meanwhile (by any test running in parallel,
    /// too: callers look for what must appear nowhere).
    public static func capturing(_ body: () async throws -> Void) async throws -> [String] {
        let start = Self.state.withLock { state in
            state.active += 1
            return state.lines.count
        }
        defer {
            Self.state.withLock { state in
                state.active -= 1
                if state.active == 0 { state.lines.removeAll() }
            }
        }
        try await body()
        return Self.state.withLock { state in Array(state.lines[min(start, state.lines.count)...]) }
    }

    static var isActive: Bool { Self.state.withLock { $0.active > 0 } }

    static func record(_ line: @autoclosure () -> String) {
        Self.state.withLock { state in
            if state.active > 0 { state.lines.append(line()) }
        }
    }
}

/// Writes at `printLevel` and above to standard error; hands every line to ``LogCapture``.
struct CapturingLogHandler: LogHandler {
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    let printLevel: Logger.Level
    var stream: StreamLogHandler

    init(label: String, printLevel: Logger.Level) {
        self.printLevel = printLevel
        self.stream = StreamLogHandler.standardError(label: label)
        self.stream.logLevel = printLevel
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let prints = event.level >= self.printLevel
        guard prints || LogCapture.isActive else { return }
        let merged = self.metadata.merging(event.metadata ?? [:]) { _, new in new }
        LogCapture.record("\(event.level) \(event.message) \(merged) [\(event.source)]")
        if prints {
            var forwarded = event
            forwarded.metadata = merged
            self.stream.log(event: forwarded)
        }
    }
}
