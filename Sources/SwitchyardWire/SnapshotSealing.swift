import Crypto
public import Foundation

/// Seals provider credentials inside snapshots under a key both sides derive from the node token,
/// so neither the wire nor a node's disk copy holds a provider key in the clear.
///
/// Sealing is deterministic (the nonce is an HMAC of the provider name and the secret), so every
/// control-plane replica compiles byte-identical shards and a node may fetch the manifest from
/// one replica and the shards from another. The provider name is authenticated too: a sealed key
/// cannot be moved to another provider.
public struct CredentialSealer: Sendable {
    let key: SymmetricKey
    let nonceKey: SymmetricKey

    public init(nodeToken: String) {
        let material = SymmetricKey(data: Data(nodeToken.utf8))
        let salt = Data("switchyard.snapshot.v1".utf8)
        self.key = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: material,
            salt: salt,
            info: Data("provider-credentials".utf8),
            outputByteCount: 32
        )
        self.nonceKey = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: material,
            salt: salt,
            info: Data("provider-credentials-nonce".utf8),
            outputByteCount: 32
        )
    }

    public func seal(_ plaintext: String, provider: String) throws -> Data {
        let context = Data(provider.utf8)
        var input = context
        input.append(0)
        input.append(contentsOf: plaintext.utf8)
        let mac = HMAC<SHA256>.authenticationCode(for: input, using: self.nonceKey)
        let nonce = try AES.GCM.Nonce(data: Data(mac.prefix(12)))
        guard let combined = try AES.GCM.seal(Data(plaintext.utf8), using: self.key, nonce: nonce, authenticating: context).combined
        else { throw CryptoKitError.incorrectParameterSize }
        return combined
    }

    public func unseal(_ sealed: Data, provider: String) throws -> String {
        let box = try AES.GCM.SealedBox(combined: sealed)
        return String(decoding: try AES.GCM.open(box, using: self.key, authenticating: Data(provider.utf8)), as: UTF8.self)
    }
}

public enum Hashing {
    /// Lower-case hex SHA-256.
    public static func sha256Hex(_ data: some DataProtocol) -> String {
        let digest = SHA256.hash(data: data)
        // One string of 64 characters, no string per byte: keys are hashed on every request.
        return String(unsafeUninitializedCapacity: 64) { out in
            var index = 0
            for byte in digest {
                out[index] = Self.hexDigits[Int(byte >> 4)]
                out[index + 1] = Self.hexDigits[Int(byte & 0x0F)]
                index += 2
            }
            return 64
        }
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)
}
