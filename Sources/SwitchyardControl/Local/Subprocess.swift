public import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A child process started with `posix_spawn`, its output appended to a file.
/// (Foundation's `Process` waits on a run loop that async code does not drive; this waits with
/// `waitpid`.)
public struct Subprocess: Sendable {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public let pid: pid_t

    #if os(Linux)
    /// glibc 2.34+; Swift's Glibc module does not export it, so it is looked up at run time.
    private static let addCloseFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? =
        dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np").map {
            unsafeBitCast($0, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
        }
    #else
    private static let addCloseFrom: ((UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = nil
    #endif

    /// Starts `path` with `arguments`; stdin is /dev/null, stdout and stderr go to `outputPath`.
    public static func spawn(
        _ path: String,
        _ arguments: [String],
        environment: [String: String]? = nil,
        directory: String? = nil,
        outputPath: String
    ) throws -> Subprocess {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // Nothing else is inherited. SwiftNIO opens sockets without close-on-exec, so a child
        // (and a PostgreSQL server it starts, which outlives it) would otherwise hold copies of
        // this process's connections: a connection we close would stay open at the peer. A test
        // server's closed keep-alive connection then swallowed the next request until its deadline.
        _ = Self.addCloseFrom?(&actions, 3)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Children start with default signal handling and an empty mask, whatever the parent traps.
        var defaults = sigset_t()
        sigfillset(&defaults)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        // A working directory is set through the shell (posix_spawn has no portable chdir action).
        let command = directory.map { ["/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", $0, path] + arguments } ?? [path] + arguments
        let argv: [UnsafeMutablePointer<CChar>?] = command.map { strdup($0) } + [nil]
        let env = environment ?? ProcessInfo.processInfo.environment
        let envp: [UnsafeMutablePointer<CChar>?] = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv + envp { free(pointer) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, command[0], &actions, &attributes, argv, envp)
        guard result == 0 else { throw Failure(description: "cannot start \(path): \(String(cString: strerror(result)))") }
        return Subprocess(pid: pid)
    }

    /// Exit status once the child has ended (reaping it), or nil while it runs.
    public func poll() -> Int32? {
        var status: Int32 = 0
        let result = waitpid(self.pid, &status, WNOHANG)
        guard result == self.pid else { return result < 0 ? -1 : nil }
        return Self.exitCode(status)
    }

    /// Blocks until the child ends; its exit code (128 + signal when killed by one).
    public func wait() -> Int32 {
        var status: Int32 = 0
        while waitpid(self.pid, &status, 0) < 0 {
            if errno != EINTR { return -1 }
        }
        return Self.exitCode(status)
    }

    public func signal(_ signal: Int32) {
        kill(self.pid, signal)
    }

    static func exitCode(_ status: Int32) -> Int32 {
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }

    /// Like ``run(_:_:environment:directory:)``, but waits without blocking a thread of the
    /// cooperative pool (it polls), so many can run at once beside async servers.
    @discardableResult
    public static func runAsync(
        _ path: String,
        _ arguments: [String],
        environment: [String: String]? = nil,
        directory: String? = nil
    ) async throws -> String {
        let outputPath = NSTemporaryDirectory() + "switchyard-cmd-\(UUID().uuidString).log"
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        let child = try spawn(path, arguments, environment: environment, directory: directory, outputPath: outputPath)
        var code = child.poll()
        while code == nil {
            do {
                try await Task.sleep(for: .milliseconds(20))
            } catch {
                child.signal(SIGKILL)
                _ = child.wait()
                throw error
            }
            code = child.poll()
        }
        let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        guard code == 0 else {
            throw Failure(description: "\(path) \(arguments.joined(separator: " ")) failed (exit \(code ?? -1)): \(text.suffix(2000))")
        }
        return text
    }

    /// Runs a program to completion; returns its output, throws with the output when it fails.
    @discardableResult
    public static func run(_ path: String, _ arguments: [String], environment: [String: String]? = nil, directory: String? = nil) throws -> String {
        let outputPath = NSTemporaryDirectory() + "switchyard-cmd-\(UUID().uuidString).log"
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        let child = try spawn(path, arguments, environment: environment, directory: directory, outputPath: outputPath)
        let code = child.wait()
        let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        guard code == 0 else {
            throw Failure(description: "\(path) \(arguments.joined(separator: " ")) failed (exit \(code)): \(text.suffix(2000))")
        }
        return text
    }
}
