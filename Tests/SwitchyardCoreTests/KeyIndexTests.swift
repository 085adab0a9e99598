import Testing

@testable import SwitchyardCore

struct KeyIndexTests {
    /// Deterministic 64-hex-digit hashes (SplitMix64), so a failure reproduces.
    struct Hashes {
        var state: UInt64

        mutating func word() -> UInt64 {
            self.state &+= 0x9E37_79B9_7F4A_7C15
            var z = self.state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }

        mutating func next() -> String {
            (0..<4).map { _ in Self.hex(self.word()) }.joined()
        }

        static func hex(_ word: UInt64) -> String {
            let digits = String(word, radix: 16)
            return String(repeating: "0", count: 16 - digits.count) + digits
        }
    }

    static func key(_ id: String, _ hash: String, limits: RateLimits = RateLimits()) -> APIKeyConfig {
        var key = APIKeyConfig(id: id, name: id, prefix: "sk-sy-XXXXXXXX", sha256: hash)
        key.rateLimits = limits
        return key
    }

    @Test func findsEveryKeyOfManyTenantsAndNothingElse() {
        var hashes = Hashes(state: 42)
        let tenants = (0..<50).map { tenant in
            TenantConfig(
                name: "tenant-\(tenant)",
                version: 1,
                keys: (0..<100).map { Self.key("key-\(tenant)-\($0)", hashes.next()) },
                routes: []
            )
        }
        let index = KeyIndex(tenants: tenants)
        #expect(index.count == 5_000)
        #expect(index.duplicateKeyTenant == nil)
        for tenant in tenants {
            for key in tenant.keys {
                let entry = index.entry(sha256Hex: key.sha256)
                #expect(entry?.tenant == tenant.name)
                #expect(entry?.key == key)
                #expect(entry?.rateQuotas.isEmpty == true)
            }
        }
        for _ in 0..<1_000 { #expect(index.entry(sha256Hex: hashes.next()) == nil) }
        #expect(Set(index.entries.map(\.key.id)) == Set(tenants.flatMap { $0.keys.map(\.id) }))
    }

    @Test func digestBytesFindTheSameKeyAsItsHex() {
        let hash = String(repeating: "0123456789abcdef", count: 4)
        let index = KeyIndex(tenants: [TenantConfig(name: "acme", version: 1, keys: [Self.key("k", hash)], routes: [])])
        let bytes: [UInt8] = (0..<32).map { UInt8(($0 % 8) * 0x22 + 0x01) }
        #expect(bytes.withUnsafeBytes { index.entry(sha256: $0) }?.key.id == "k")
        #expect(bytes.dropLast().withUnsafeBytes { index.entry(sha256: $0) } == nil)
        var other = bytes
        other[31] ^= 1
        #expect(other.withUnsafeBytes { index.entry(sha256: $0) } == nil)
    }

    @Test func keysSharingAFirstWordProbeToTheirOwnEntries() {
        // Same first 16 digits: the same home slot, told apart by the rest.
        let prefix = "deadbeefdeadbeef"
        let keys = (0..<40).map { number in
            Self.key("k\(number)", prefix + String(repeating: "0", count: 32) + Hashes.hex(UInt64(number)))
        }
        let index = KeyIndex(tenants: [TenantConfig(name: "acme", version: 1, keys: keys, routes: [])])
        for key in keys { #expect(index.entry(sha256Hex: key.sha256)?.key.id == key.id) }
        #expect(index.entry(sha256Hex: prefix + String(repeating: "f", count: 48)) == nil)
    }

    @Test func malformedHashesAreLeftOutAndALaterDuplicateWins() {
        let hash = String(repeating: "ab", count: 32)
        let tenants = [
            TenantConfig(
                name: "first",
                version: 1,
                keys: [Self.key("short", "abc"), Self.key("not-hex", String(repeating: "zz", count: 32)), Self.key("one", hash)],
                routes: []
            ),
            TenantConfig(name: "second", version: 1, keys: [Self.key("two", hash.uppercased(), limits: RateLimits(rpm: 60))], routes: []),
        ]
        let index = KeyIndex(tenants: tenants)
        #expect(index.count == 1)
        #expect(index.duplicateKeyTenant == "second", "the digest is the same in either case")
        let entry = index.entry(sha256Hex: hash)
        #expect(entry?.tenant == "second")
        #expect(entry?.key.id == "two")
        #expect(entry?.rateQuotas.map(\.metric) == [.requests])
        #expect(entry?.rateQuotas.first?.limitMicros == 60)
        #expect(index.entry(sha256Hex: "abc") == nil)
    }

    @Test func emptyIndexFindsNothing() {
        let index = KeyIndex(tenants: [])
        #expect(index.count == 0)
        #expect(index.entry(sha256Hex: String(repeating: "0", count: 64)) == nil)
    }

    /// The rarely set fields live in a shared box: values, copies and equality behave as plain fields.
    @Test func keySettingsReadWriteAndCompareLikeFields() {
        let plain = APIKeyConfig(id: "k", name: "n", prefix: "sk-sy-XXXXXXXX", sha256: "h")
        #expect(plain.labels.isEmpty && plain.expiresAtUnixMs == nil && plain.allowedRoutes.isEmpty && plain.rateLimits.isEmpty)
        var changed = plain
        changed.labels = ["team": "search"]
        changed.expiresAtUnixMs = 1_700_000_000_000
        changed.allowedRoutes = ["chat"]
        changed.rateLimits = RateLimits(rpm: 10, tpm: 1_000)
        #expect(plain.labels.isEmpty, "the original is untouched")
        #expect(changed.labels == ["team": "search"] && changed.expiresAtUnixMs == 1_700_000_000_000)
        #expect(changed.allowedRoutes == ["chat"] && changed.rateLimits == RateLimits(rpm: 10, tpm: 1_000))
        #expect(changed != plain)
        var copy = changed
        copy.rateLimits = RateLimits()
        #expect(changed.rateLimits.rpm == 10 && copy.rateLimits.isEmpty)
        var reset = changed
        reset.labels = [:]
        reset.expiresAtUnixMs = nil
        reset.allowedRoutes = []
        reset.rateLimits = RateLimits()
        #expect(reset == plain && reset.hashValue == plain.hashValue, "back to defaults equals a key that never had settings")
        let built = APIKeyConfig(id: "k", name: "n", prefix: "sk-sy-XXXXXXXX", sha256: "h", labels: ["team": "search"])
        var set = plain
        set.labels = ["team": "search"]
        #expect(built == set && Set([built, set]).count == 1)
        #expect(!built.isExpired(nowUnixMs: .max) && changed.isExpired(nowUnixMs: 1_700_000_000_000))
        #expect(changed.mayUse(route: "chat") && !changed.mayUse(route: "other") && plain.mayUse(route: "other"))
    }
}
