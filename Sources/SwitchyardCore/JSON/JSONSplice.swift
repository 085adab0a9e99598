/// Rewrites one top-level string member of a JSON object in place, byte for byte, without
/// decoding and re-encoding the rest: the node's model rewrite when the client and the provider
/// speak the same format, so a long prompt is copied, not serialized again.
public enum JSONSplice {
    /// `bytes` (a valid JSON object) with the string value of its top-level member `key`
    /// replaced by `value`; nil when the member is missing, not a string, present twice, or
    /// written with escapes in its name (the caller then takes the general path).
    public static func replacingTopLevelString(_ key: String, in bytes: UnsafeBufferPointer<UInt8>, with value: String) -> [UInt8]? {
        guard let range = Self.valueRange(of: Array(key.utf8), in: bytes) else { return nil }
        let encoded = JSONValue.string(value).serialized()
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count - range.count + encoded.count)
        out.append(contentsOf: bytes[..<range.lowerBound])
        out.append(contentsOf: encoded)
        out.append(contentsOf: bytes[range.upperBound...])
        return out
    }

    public static func replacingTopLevelString(_ key: String, in bytes: [UInt8], with value: String) -> [UInt8]? {
        bytes.withUnsafeBufferPointer { Self.replacingTopLevelString(key, in: $0, with: value) }
    }

    /// The offsets of the member's string value, quotes included.
    static func valueRange(of key: [UInt8], in bytes: UnsafeBufferPointer<UInt8>) -> Range<Int>? {
        var index = 0
        func skipSpace() {
            while index < bytes.count, bytes[index] == 0x20 || bytes[index] == 0x0A || bytes[index] == 0x0D || bytes[index] == 0x09 {
                index += 1
            }
        }
        /// Past a string starting at `index` (on its quote); whether it had escapes.
        func skipString() -> Bool? {
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { return nil }
            index += 1
            var escaped = false
            while index < bytes.count {
                switch bytes[index] {
                case UInt8(ascii: "\\"):
                    escaped = true
                    index += 2
                case UInt8(ascii: "\""):
                    index += 1
                    return escaped
                default:
                    index += 1
                }
            }
            return nil
        }
        /// Past any value starting at `index`.
        func skipValue() -> Bool {
            guard index < bytes.count else { return false }
            switch bytes[index] {
            case UInt8(ascii: "\""):
                return skipString() != nil
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                var depth = 0
                while index < bytes.count {
                    switch bytes[index] {
                    case UInt8(ascii: "\""):
                        guard skipString() != nil else { return false }
                        continue
                    case UInt8(ascii: "{"), UInt8(ascii: "["):
                        depth += 1
                    case UInt8(ascii: "}"), UInt8(ascii: "]"):
                        depth -= 1
                        if depth == 0 {
                            index += 1
                            return true
                        }
                    default:
                        break
                    }
                    index += 1
                }
                return false
            default:
                // A number or a literal: up to the next delimiter.
                while index < bytes.count {
                    let byte = bytes[index]
                    if byte == UInt8(ascii: ",") || byte == UInt8(ascii: "}") || byte == UInt8(ascii: "]") || byte <= 0x20 { break }
                    index += 1
                }
                return true
            }
        }

        skipSpace()
        guard index < bytes.count, bytes[index] == UInt8(ascii: "{") else { return nil }
        index += 1
        var found: Range<Int>?
        while true {
            skipSpace()
            guard index < bytes.count else { return nil }
            if bytes[index] == UInt8(ascii: "}") { return found }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            let nameStart = index
            guard let escaped = skipString() else { return nil }
            let name = bytes[(nameStart + 1)..<(index - 1)]
            // An escaped name might spell the key: not worth decoding here.
            if escaped { return nil }
            let matches = name.elementsEqual(key)
            skipSpace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { return nil }
            index += 1
            skipSpace()
            let valueStart = index
            guard skipValue() else { return nil }
            if matches {
                guard found == nil, bytes[valueStart] == UInt8(ascii: "\"") else { return nil }
                found = valueStart..<index
            }
        }
    }
}
