import Crypto
public import Foundation
import SwitchyardCore

/// Encrypts provider credentials at rest (AES-256-GCM) under `SWITCHYARD_MASTER_KEY`.
public struct MasterKey: Sendable {
    public struct InvalidKey: Error, CustomStringConvertible {
        public var description: String {
            "SWITCHYARD_MASTER_KEY must be the base64 encoding of exactly 32 random bytes (e.g. `openssl rand -base64 32`)"
        }
    }

    let key: SymmetricKey
    /// Keys being rotated out: they still open what they sealed, never seal anything new.
    let previous: [SymmetricKey]

    /// `previous` lists earlier master keys (base64) during a rotation; see `rotate-master-key`.
    public init(base64: String, previous: [String] = []) throws {
        self.key = try Self.symmetricKey(base64)
        self.previous = try previous.map(Self.symmetricKey)
    }

    static func symmetricKey(_ base64: String) throws -> SymmetricKey {
        guard let data = Data(base64Encoded: base64.trimmingCharacters(in: .whitespacesAndNewlines)), data.count == 32 else {
            throw InvalidKey()
        }
        return SymmetricKey(data: data)
    }

    /// A new random key, base64-encoded.
    public static func generateBase64() -> String {
        SymmetricKey(size: .bits256).withUnsafeBytes { Data($0).base64EncodedString() }
    }

    public func seal(_ plaintext: String) throws -> Data {
        guard let combined = try AES.GCM.seal(Data(plaintext.utf8), using: self.key).combined else {
            throw CryptoKitError.incorrectParameterSize
        }
        return combined
    }

    /// Opens a box sealed under the current key or one of the previous ones.
    public func open(_ sealed: Data) throws -> String {
        let box = try AES.GCM.SealedBox(combined: sealed)
        var lastError: (any Error)?
        for key in [self.key] + self.previous {
            do {
                return String(decoding: try AES.GCM.open(box, using: key), as: UTF8.self)
            } catch {
                lastError = error
            }
        }
        throw lastError ?? CryptoKitError.authenticationFailure
    }

    /// Re-seals a box under the current key (whichever known key sealed it).
    public func reseal(_ sealed: Data) throws -> Data {
        try self.seal(try self.open(sealed))
    }
}

/// The plaintext form of a provider's credentials before sealing: `[{"name","key","weight"}]`.
enum ProviderCredentialList {
    struct Corrupt: Error, CustomStringConvertible {
        var description: String { "a provider's stored credentials do not decode" }
    }

    static func encode(_ credentials: [ProviderCredential]) -> String {
        let list: JSONValue = .array(
            credentials.map { credential in
                var entry: JSONValue = ["name": .string(credential.name), "key": .string(credential.key), "weight": .int(Int64(credential.weight))]
                if !credential.capacity.isEmpty { entry["capacity"] = credential.capacity.json }
                return entry
            }
        )
        return String(decoding: list.serialized(sortedKeys: true), as: UTF8.self)
    }

    static func decode(_ text: String) throws -> [ProviderCredential] {
        guard let list = (try? JSONValue(parsing: text.utf8))?.arrayValue else { throw Corrupt() }
        return try list.map { entry in
            guard let name = entry["name"]?.stringValue, let key = entry["key"]?.stringValue, let weight = entry["weight"]?.intValue else {
                throw Corrupt()
            }
            return ProviderCredential(name: name, key: key, weight: Int(weight), capacity: Self.capacity(entry["capacity"]))
        }
    }

    /// A stored `capacity` object (absent: unlimited).
    static func capacity(_ value: JSONValue?) -> RateLimits {
        RateLimits(rpm: value?["rpm"]?.intValue, tpm: value?["tpm"]?.intValue)
    }

    /// The secret-free summary shown by the admin API.
    static func names(_ credentials: [ProviderCredential]) -> JSONValue {
        .array(
            credentials.map { credential in
                var entry: JSONValue = ["name": .string(credential.name), "weight": .int(Int64(credential.weight))]
                if !credential.capacity.isEmpty { entry["capacity"] = credential.capacity.json }
                return entry
            }
        )
    }
}
