/// An environment's symmetric key, unwrapped for this process, bound to one store and
/// environment. Seals and opens values with associated data
/// `envagent/value/v<format> 0x00 STOREID 0x00 ENVIRONMENT 0x00 NAME`, so a ciphertext moved onto
/// another name, environment or store fails to open.
public struct EnvironmentKey: Sendable {
    let key: SecretBytes
    public let storeID: String
    public let environment: String

    init(key: SecretBytes, storeID: String, environment: String) {
        self.key = key
        self.storeID = storeID
        self.environment = environment
    }

    /// A fresh random key for a new environment.
    static func generate(storeID: String, environment: String) throws -> EnvironmentKey {
        EnvironmentKey(key: try Crypto.newAEADKey(), storeID: storeID, environment: environment)
    }

    /// Unwraps the key from the recipient entry matching `identity`.
    /// Fails `forbidden` when the identity is not a recipient of the environment.
    static func unwrap(from recipients: [Recipient], identity: Identity, storeID: String,
                       environment: String) throws -> EnvironmentKey {
        guard let entry = recipients.first(where: { Crypto.equal($0.publicKey, identity.publicKey) }) else {
            throw AgentError(.forbidden, "your identity is not a recipient of environment '\(environment)'",
                             hint: "ask a member to run `agent recipients add \(identity.publicKeyText) --env \(environment)`")
        }
        guard let key = try Crypto.openSealedBox(entry.wrappedKey, publicKey: identity.publicKey, secretKey: identity.secretKey),
              key.count == Crypto.aeadKeyBytes
        else {
            throw AgentError(.forbidden, "the key of environment '\(environment)' wrapped for your identity does not open",
                             hint: "ask a member to re-add your public key")
        }
        return EnvironmentKey(key: key, storeID: storeID, environment: environment)
    }

    /// The environment key sealed to `publicKey`, as a recipients-file entry.
    func wrapped(for publicKey: [UInt8], label: String?) throws -> Recipient {
        Recipient(publicKey: publicKey, wrappedKey: try Crypto.sealedBox(key, to: publicKey), label: label)
    }

    func associatedData(name: String) -> [UInt8] {
        var ad = Array("\(StoreFormat.associatedDataLabel)\(StoreFormat.version)".utf8)
        ad.append(0); ad += storeID.utf8
        ad.append(0); ad += environment.utf8
        ad.append(0); ad += name.utf8
        return ad
    }

    /// Seals `value` for secret `name`: the VALUE field of its secrets line.
    public func seal(_ value: SecretBytes, name: String) throws -> String {
        let sealed = try value.withUnsafeBytes { try Crypto.seal($0, key: key, associatedData: associatedData(name: name)) }
        return StoreFormat.aeadValuePrefix + Crypto.base64(sealed)
    }

    /// Opens a secrets line; the error names the line's secret and environment, never a value.
    public func open(_ line: SecretLine) throws -> SecretBytes {
        guard line.isWellFormed else {
            throw AgentError.internal("secret '\(line.name)' in environment '\(environment)' has a malformed line (expected 5 fields)")
        }
        guard let ciphertext = line.ciphertext else {
            throw AgentError.internal("secret '\(line.name)' in environment '\(environment)' has a value that is not valid base64 ciphertext")
        }
        guard let plain = try Crypto.open(ciphertext, key: key, associatedData: associatedData(name: line.name)) else {
            throw AgentError.internal("secret '\(line.name)' in environment '\(environment)' does not decrypt: ciphertext altered, truncated, or copied from another name, environment or store")
        }
        return plain
    }
}
