public import AsyncHTTPClient
public import NIOCore
import NIOPosix

/// The HTTP client every provider call goes through: pooled, no redirects, no decompression
/// (bytes pass through untouched), HTTP/2 by ALPN for https upstreams.
public enum UpstreamHTTPClient {
    public struct Configuration: Sendable {
        /// A refused or unreachable upstream fails after this long and the next target is tried.
        public var connectTimeout: TimeAmount
        /// Safety net for silence between body chunks, above the longest route timeout (600 s);
        /// routes set their own, tighter limits per attempt.
        public var readTimeout: TimeAmount
        public var maxConnectionsPerHost: Int

        public init(connectTimeout: TimeAmount = .seconds(3), readTimeout: TimeAmount = .seconds(610), maxConnectionsPerHost: Int = 256) {
            self.connectTimeout = connectTimeout
            self.readTimeout = readTimeout
            self.maxConnectionsPerHost = maxConnectionsPerHost
        }
    }

    public static func make(_ configuration: Configuration = .init()) -> HTTPClient {
        var client = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: configuration.connectTimeout, read: configuration.readTimeout),
            decompression: .disabled
        )
        client.connectionPool = .init(
            idleTimeout: .seconds(60),
            concurrentHTTP1ConnectionsPerHostSoftLimit: configuration.maxConnectionsPerHost
        )
        // Fail fast on a refused connection: fallback to another provider is the retry.
        client.connectionPool.retryConnectionEstablishment = false
        client.httpVersion = .automatic
        return HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: client)
    }
}
