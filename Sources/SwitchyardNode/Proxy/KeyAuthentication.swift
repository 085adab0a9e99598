import Crypto
import Foundation
public import HTTPTypes
public import SwitchyardCore

/// Finds the caller's key in the routing table.
public enum KeyAuthentication {
    public static let apiKeyHeader = HTTPField.Name("x-api-key")!

    /// The key from `Authorization: Bearer <key>` (OpenAI SDKs) or `x-api-key: <key>`
    /// (Anthropic SDKs): its SHA-256 looked up, and its expiry checked on this node's clock.
    public static func authenticate(authorization: String?, apiKey: String?, table: RoutingTable) throws(APIError) -> RoutingTable.KeyEntry {
        let key: String
        if let header = authorization {
            // The scheme is case-insensitive (RFC 9110 §11.1).
            let utf8 = header.utf8
            guard utf8.count > 7, zip(utf8.prefix(7), "bearer ".utf8).allSatisfy({ $0 | 0x20 == $1 }) else { throw .invalidKey }
            key = String(Self.trimmed(header.dropFirst(7)))
        } else if let header = apiKey {
            key = String(Self.trimmed(Substring(header)))
        } else {
            throw .missingKey
        }
        guard APIKeyFormat.prefix(of: key) != nil, let entry = SHA256.hash(data: Data(key.utf8)).withUnsafeBytes({ table.keys.entry(sha256: $0) })
        else {
            throw .invalidKey
        }
        // Expiry is the node's own clock: it holds to the second, without a config change.
        if entry.key.isExpired(nowUnixMs: Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))) { throw .expiredKey }
        return entry
    }

    /// Without spaces and tabs at either end (Foundation's trimming showed in the hot path).
    static func trimmed(_ text: Substring) -> Substring {
        var text = text
        while let first = text.first, first == " " || first == "\t" { text.removeFirst() }
        while let last = text.last, last == " " || last == "\t" { text.removeLast() }
        return text
    }
}
