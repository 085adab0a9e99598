import Foundation
import NIOCore
import NIOPosix
import SwitchyardControl
import Testing

/// Children started by the harness, `switchyard dev` and LocalPostgres.
@Suite struct SubprocessTests {
    /// SwiftNIO opens sockets without close-on-exec; a child must still not hold copies of them
    /// (a PostgreSQL server that inherits one keeps the connection open after we close it).
    @Test func childrenInheritNoSocketsOfTheParent() async throws {
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0)
            .get()
        let port = try #require(server.localAddress?.port)
        let client = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port)
            .get()
        // The parent holds sockets now (the check is meaningful), the child none.
        let parent = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").compactMap {
            try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + $0)
        }
        #expect(parent.contains { $0.hasPrefix("socket:") })
        let listing = try await Subprocess.runAsync("/bin/sh", ["-c", #"for f in /proc/$$/fd/*; do echo "${f##*/} $(readlink "$f")"; done"#])
        #expect(!listing.contains("socket:"), "the child inherited sockets:\n\(listing)")
        #expect(listing.contains("0 /dev/null"), "\(listing)")
        try await client.close()
        try await server.close()
    }
}
