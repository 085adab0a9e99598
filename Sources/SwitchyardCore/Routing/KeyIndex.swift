/// API keys by the SHA-256 of their secret, kept small: a table of 100,000 keys takes about
/// 4.5 MB (the 32-byte digests, an open-addressing slot array and two ordinals per key) where a
/// `[String: KeyEntry]` took about 44 MB. The keys' configs stay where the decoded tenants
/// already hold them; a lookup assembles the ``RoutingTable/KeyEntry`` it returns.
public struct KeyIndex: Sendable {
    /// Each key's digest as four big-endian words, key `k` at `4k..<4k+4`.
    private let digests: [UInt64]
    /// Open addressing, linear probing: `k + 1` for key `k`, 0 for an empty slot. A power of two
    /// at least 1.5 times the key count.
    private let slots: [UInt32]
    /// Key `k`'s tenant (an index into `tenantNames`) and its position in that tenant's keys.
    private let owners: [UInt32]
    private let positions: [UInt32]
    private let tenantNames: [String]
    private let tenantKeys: [[APIKeyConfig]]
    /// Rate-limit leases of the keys that have rate limits, by key number (most keys have none).
    private let quotas: [UInt32: [BudgetConfig]]
    /// The first tenant (in the order given) holding a key whose digest an earlier key has:
    /// a snapshot with one is invalid (see ``ConfigSnapshot/validate(limits:unchanged:keyHashes:)``).
    public let duplicateKeyTenant: String?

    /// Indexes the keys of `tenants`. A hash that is not 64 hex digits cannot be any secret's
    /// SHA-256 and is left out; when two keys share a digest the later one wins.
    public init(tenants: [TenantConfig]) {
        let total = tenants.reduce(0) { $0 + $1.keys.count }
        var slotCount = 8
        while slotCount < total + total / 2 { slotCount <<= 1 }
        var digests: [UInt64] = []
        var slots = [UInt32](repeating: 0, count: slotCount)
        var owners: [UInt32] = []
        var positions: [UInt32] = []
        var quotas: [UInt32: [BudgetConfig]] = [:]
        var duplicateKeyTenant: String?
        digests.reserveCapacity(total * 4)
        owners.reserveCapacity(total)
        positions.reserveCapacity(total)
        let mask = slotCount - 1
        for (tenantNumber, tenant) in tenants.enumerated() {
            // By index, not by copying each key out: only the fields read here are retained.
            let keys = tenant.keys
            for position in keys.indices {
                guard let words = Self.words(hex: keys[position].sha256) else { continue }
                var slot = Int(truncatingIfNeeded: words.0) & mask
                var number = owners.count
                while slots[slot] != 0 {
                    let other = Int(slots[slot]) - 1
                    if Self.digest(other, in: digests, is: words) {
                        number = other
                        break
                    }
                    slot = (slot + 1) & mask
                }
                if number == owners.count {
                    digests.append(words.0)
                    digests.append(words.1)
                    digests.append(words.2)
                    digests.append(words.3)
                    owners.append(UInt32(tenantNumber))
                    positions.append(UInt32(position))
                    slots[slot] = UInt32(number + 1)
                } else {
                    if duplicateKeyTenant == nil { duplicateKeyTenant = tenant.name }
                    owners[number] = UInt32(tenantNumber)
                    positions[number] = UInt32(position)
                    quotas[UInt32(number)] = nil
                }
                let limits = keys[position].rateLimits
                if !limits.isEmpty { quotas[UInt32(number)] = limits.quotas(scope: "key:\(keys[position].id)") }
            }
        }
        self.digests = digests
        self.slots = slots
        self.owners = owners
        self.positions = positions
        self.tenantNames = tenants.map(\.name)
        self.tenantKeys = tenants.map(\.keys)
        self.quotas = quotas
        self.duplicateKeyTenant = duplicateKeyTenant
    }

    /// How many keys the index holds.
    public var count: Int { self.owners.count }

    /// The key whose secret has this SHA-256 (32 bytes; any other length finds nothing).
    public func entry(sha256 digest: UnsafeRawBufferPointer) -> RoutingTable.KeyEntry? {
        guard digest.count == 32 else { return nil }
        let words = (
            UInt64(bigEndian: digest.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
            UInt64(bigEndian: digest.loadUnaligned(fromByteOffset: 8, as: UInt64.self)),
            UInt64(bigEndian: digest.loadUnaligned(fromByteOffset: 16, as: UInt64.self)),
            UInt64(bigEndian: digest.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
        )
        return self.entry(words: words)
    }

    /// The key whose lower- or upper-case hex SHA-256 this is.
    public func entry(sha256Hex: String) -> RoutingTable.KeyEntry? {
        Self.words(hex: sha256Hex).flatMap { self.entry(words: $0) }
    }

    /// Every indexed key, in no particular order (for tests and tools, not the hot path).
    public var entries: [RoutingTable.KeyEntry] { self.owners.indices.map { self.makeEntry($0) } }

    private func entry(words: (UInt64, UInt64, UInt64, UInt64)) -> RoutingTable.KeyEntry? {
        let mask = self.slots.count - 1
        var slot = Int(truncatingIfNeeded: words.0) & mask
        while self.slots[slot] != 0 {
            let number = Int(self.slots[slot]) - 1
            if Self.digest(number, in: self.digests, is: words) { return self.makeEntry(number) }
            slot = (slot + 1) & mask
        }
        return nil
    }

    private func makeEntry(_ number: Int) -> RoutingTable.KeyEntry {
        let tenant = Int(self.owners[number])
        return RoutingTable.KeyEntry(
            tenant: self.tenantNames[tenant],
            key: self.tenantKeys[tenant][Int(self.positions[number])],
            // Most tables hold no key with rate limits: no hashing for them.
            rateQuotas: self.quotas.isEmpty ? [] : self.quotas[UInt32(number)] ?? []
        )
    }

    /// Whether key `number`'s digest in `digests` is `words`.
    private static func digest(_ number: Int, in digests: [UInt64], is words: (UInt64, UInt64, UInt64, UInt64)) -> Bool {
        let base = number * 4
        return digests[base] == words.0 && digests[base + 1] == words.1 && digests[base + 2] == words.2 && digests[base + 3] == words.3
    }

    /// 64 hex digits as four big-endian words.
    static func words(hex: String) -> (UInt64, UInt64, UInt64, UInt64)? {
        var hex = hex
        // Contiguous UTF-8 (native strings already are): a plain byte loop, ~20x faster than
        // iterating the view.
        return hex.withUTF8 { bytes -> (UInt64, UInt64, UInt64, UInt64)? in
            guard bytes.count == 64 else { return nil }
            func word(_ start: Int) -> UInt64? {
                var value: UInt64 = 0
                for index in start..<start + 16 {
                    let character = bytes[index]
                    let digit: UInt8
                    switch character {
                    case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = character &- UInt8(ascii: "0")
                    case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = character &- UInt8(ascii: "a") &+ 10
                    case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = character &- UInt8(ascii: "A") &+ 10
                    default: return nil
                    }
                    value = value << 4 | UInt64(digit)
                }
                return value
            }
            guard let first = word(0), let second = word(16), let third = word(32), let fourth = word(48) else { return nil }
            return (first, second, third, fourth)
        }
    }
}
