/// Rules for the names admins give to config objects.
public enum Names {
    /// Tenant names appear in paths and metrics: lower-case letters, digits and dashes.
    public static func isValidTenant(_ name: String) -> Bool {
        guard let first = name.utf8.first, name.utf8.count <= 63 else { return false }
        guard isLowerAlnum(first) else { return false }
        return name.utf8.allSatisfy { isLowerAlnum($0) || $0 == UInt8(ascii: "-") }
    }

    /// Provider, model and route names: letters, digits and `._:-`, starting with a letter or digit.
    public static func isValidObjectName(_ name: String) -> Bool {
        guard let first = name.utf8.first, name.utf8.count <= 128 else { return false }
        guard isAlnum(first) else { return false }
        return name.utf8.allSatisfy { byte in
            isAlnum(byte) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ":")
                || byte == UInt8(ascii: "-")
        }
    }

    /// Label names (tenant and key labels, header and metadata names in route conditions):
    /// letters, digits and `._-`, starting with a letter or digit, at most 63 bytes.
    public static func isValidLabelKey(_ name: String) -> Bool {
        guard let first = name.utf8.first, name.utf8.count <= 63 else { return false }
        guard isAlnum(first) else { return false }
        return name.utf8.allSatisfy { isAlnum($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }
    }

    private static func isLowerAlnum(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
    }

    private static func isAlnum(_ byte: UInt8) -> Bool {
        isLowerAlnum(byte) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
    }
}

/// The format of virtual API keys: `sk-sy-<8 char prefix>-<32 char secret>`, base62.
/// The prefix is stored and shown; the whole key is only ever stored as a SHA-256 hash.
public enum APIKeyFormat {
    public static let marker = "sk-sy-"
    static let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)

    /// A new random key and its visible prefix (`sk-sy-XXXXXXXX`).
    public static func generate<G: RandomNumberGenerator>(using generator: inout G) -> (secret: String, prefix: String) {
        func random(_ count: Int) -> String {
            String(decoding: (0..<count).map { _ in alphabet.randomElement(using: &generator)! }, as: UTF8.self)
        }
        let prefix = marker + random(8)
        return (prefix + "-" + random(32), prefix)
    }

    public static func generate() -> (secret: String, prefix: String) {
        var generator = SystemRandomNumberGenerator()
        return generate(using: &generator)
    }

    /// The visible prefix of a well-formed key, or nil.
    public static func prefix(of secret: String) -> String? {
        let bytes = Array(secret.utf8)
        let markerLength = marker.utf8.count
        guard bytes.count == markerLength + 8 + 1 + 32, secret.hasPrefix(marker), bytes[markerLength + 8] == UInt8(ascii: "-")
        else { return nil }
        return String(decoding: bytes[0..<(markerLength + 8)], as: UTF8.self)
    }
}
