import Foundation
public import PostgresNIO

/// Parses `postgres://user[:password]@host[:port]/database` into a client configuration.
public enum PostgresURL {
    public struct Invalid: Error, CustomStringConvertible {
        public var description: String { "database URL must look like postgres://user[:password]@host[:port]/database" }
    }

    public static func configuration(_ text: String, maximumConnections: Int = 16) throws -> PostgresClient.Configuration {
        guard let components = URLComponents(string: text), ["postgres", "postgresql"].contains(components.scheme ?? ""),
            let host = components.host, !host.isEmpty, let user = components.user, !user.isEmpty
        else { throw Invalid() }
        let database = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        var configuration = PostgresClient.Configuration(
            host: host,
            port: components.port ?? 5432,
            username: user,
            password: components.password,
            database: database.isEmpty ? nil : database,
            tls: .disable
        )
        configuration.options.maximumConnections = maximumConnections
        return configuration
    }
}
