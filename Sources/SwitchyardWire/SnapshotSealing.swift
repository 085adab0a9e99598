public import Crypto
public import Foundation

/// Seals provider credentials inside snapshots under a key both sides derive from the node token,
/// so neither the wire nor a node's disk copy holds a provider key in the clear.
public struct CredentialSealer: Sendable {
    let key: SymmetricKey

    public init(nodeToken: String) {
        self.key = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: Data(nodeToken.utf8)),
            salt: Data("switchyard.snapshot.v1".utf8),
            info: Data("provider-credentials".utf8),
            outputByteCount: 32
        )
    }

    public func seal(_ plaintext: String) throws -> Data {
        guard let combined = try AES.GCM.seal(Data(plaintext.utf8), using: self.key).combined else {
            throw CryptoKitError.incorrectParameterSize
        }
        return combined
    }

    public func unseal(_ sealed: Data) throws -> String {
        let box = try AES.GCM.SealedBox(combined: sealed)
        return String(decoding: try AES.GCM.open(box, using: self.key), as: UTF8.self)
    }
}

public enum Hashing {
    /// Lower-case hex SHA-256.
    public static func sha256Hex(_ data: some DataProtocol) -> String {
        SHA256.hash(data: data).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }
}
