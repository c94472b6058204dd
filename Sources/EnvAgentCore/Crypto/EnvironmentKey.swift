/// An environment's symmetric key, unwrapped for this process, bound to one store and
/// environment. Seals and opens values with associated data
/// `envagent/value/v2 0x00 STOREID 0x00 ENVIRONMENT 0x00 NAME 0x00 ENV_VAR`, so a ciphertext moved
/// onto another name, environment or store, or mapped to another variable, fails to open.
///
/// Two key pairs are derived from this key, so a rotation replaces all three and members never
/// need a second secret: the sealing pair (write-only writers seal to its public half) and the
/// Ed25519 signing pair that authenticates the recipients file (see `Trust`).
public struct EnvironmentKey: Sendable {
    let key: SecretBytes
    public let storeID: String
    public let environment: String
    /// The store format whose associated data this key seals and opens with (1 only to upgrade).
    let format: Int
    /// The derived sealing key pair: its public half is stored in the recipients file.
    public let publicKey: EnvironmentPublicKey
    private let sealingSecretKey: SecretBytes
    /// Everything of the associated data but the name (built once, not per value).
    private let associatedDataPrefix: [UInt8]

    init(key: SecretBytes, storeID: String, environment: String, format: Int = StoreFormat.version) throws {
        self.key = key
        self.storeID = storeID
        self.environment = environment
        self.format = format
        associatedDataPrefix = ValueBinding.associatedDataPrefix(storeID: storeID, environment: environment, format: format)
        let pair = try Crypto.keyPair(seed: Self.derive(StoreFormat.sealingKeyLabel, from: key, storeID: storeID, environment: environment))
        publicKey = EnvironmentPublicKey(key: pair.publicKey, storeID: storeID, environment: environment, format: format)
        sealingSecretKey = pair.secretKey
    }

    /// BLAKE2b-256 keyed with the environment key of `LABEL 0x00 STOREID 0x00 ENV`: a derived seed.
    private static func derive(_ label: String, from key: SecretBytes, storeID: String, environment: String) throws -> SecretBytes {
        var input = Array(label.utf8)
        input.append(0); input += storeID.utf8
        input.append(0); input += environment.utf8
        return try Crypto.keyedHash(input, key: key, length: 32)
    }

    /// The environment's Ed25519 signing key pair; only members can derive it. Derived on
    /// demand: only writers of a recipients file and endorsers need it.
    func signingKeyPair() throws -> (publicKey: [UInt8], secretKey: SecretBytes) {
        try Crypto.signingKeyPair(seed: Self.derive(StoreFormat.signingKeyLabel, from: key, storeID: storeID, environment: environment))
    }

    /// Whether two keys are the same environment key.
    func isSameKey(as other: EnvironmentKey) -> Bool { key.matches(other.key) }

    /// A fresh random key for a new environment (or a rotation).
    static func generate(storeID: String, environment: String) throws -> EnvironmentKey {
        try EnvironmentKey(key: try Crypto.newAEADKey(), storeID: storeID, environment: environment)
    }

    /// Unwraps the key from the recipient entry matching `identity`.
    /// Fails `forbidden` when the identity is not a recipient of the environment.
    static func unwrap(from recipients: [Recipient], identity: Identity, storeID: String,
                       environment: String, format: Int = StoreFormat.version) throws -> EnvironmentKey {
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
        return try EnvironmentKey(key: key, storeID: storeID, environment: environment, format: format)
    }

    /// The environment key sealed to `publicKey`, as a recipients-file entry.
    func wrapped(for publicKey: [UInt8], label: String?) throws -> Recipient {
        Recipient(publicKey: publicKey, wrappedKey: try Crypto.sealedBox(key, to: publicKey), label: label)
    }

    /// A signed recipients file for this key: its signing and sealing public keys, the key
    /// wrapped for each of `members`, the environments that may build on it, and the
    /// endorsement chain.
    func recipientsFile(for members: [(publicKey: [UInt8], label: String?)], baseFor: [String] = [],
                        endorsements: [Endorsement] = []) throws -> RecipientsFile {
        try signed(RecipientsFile(publicKey: nil, recipients: try members.map { try wrapped(for: $0.publicKey, label: $0.label) },
                                  baseFor: baseFor, endorsements: endorsements))
    }

    /// `file` with this key's signing and sealing public keys, signed by this key.
    func signed(_ file: RecipientsFile) throws -> RecipientsFile {
        let signing = try signingKeyPair()
        var file = file
        file.signingKey = signing.publicKey
        file.publicKey = publicKey.key
        try file.sign(storeID: storeID, environment: environment, secretKey: signing.secretKey)
        return file
    }

    /// This key's signing key vouching for `next`'s: what carries trust across a rotation.
    func endorsement(of next: EnvironmentKey) throws -> Endorsement {
        let mine = try signingKeyPair(), theirs = try next.signingKeyPair().publicKey
        return Endorsement(endorser: mine.publicKey, endorsed: theirs,
                           signature: try Crypto.sign(Endorsement.message(storeID: storeID, environment: environment, endorsed: theirs),
                                                      secretKey: mine.secretKey))
    }

    /// Seals `value` for secret `name` mapped to `envVar`: the VALUE field of its secrets line.
    public func seal(_ value: SecretBytes, name: String, envVar: String) throws -> String {
        let ad = ValueBinding.associatedData(associatedDataPrefix, name: name, envVar: envVar, format: format)
        let sealed = try value.withUnsafeBytes { try Crypto.seal($0, key: key, associatedData: ad) }
        return sealed.withUnsafeBytes { Base64.encode($0, after: StoreFormat.aeadValuePrefix) }
    }

    /// The length of what `seal` returns for a value of `valueLength` bytes.
    public static func sealedLength(valueLength: Int) -> Int {
        StoreFormat.aeadValuePrefix.utf8.count + Base64.encodedLength(Crypto.aeadNonceBytes + valueLength + Crypto.aeadTagBytes)
    }

    /// Opens a secrets line of either kind; the error names the line's secret and environment,
    /// never a value.
    public func open(_ line: SecretLine) throws -> SecretBytes {
        guard line.isWellFormed else {
            throw ValueBinding.unreadable(line, environment, "has a malformed line (expected 5 fields)")
        }
        guard let kind = line.valueKind, let ciphertext = line.ciphertext else {
            throw ValueBinding.unreadable(line, environment, "has a value that is not valid base64 ciphertext")
        }
        let ad = ValueBinding.associatedData(associatedDataPrefix, name: line.name, envVar: line.envVar, format: format)
        let plain: SecretBytes?
        switch kind {
        case .aead:
            plain = try Crypto.open(ciphertext, key: key, associatedData: ad)
        case .sealed:
            plain = try Crypto.openSealedBox(ciphertext, publicKey: publicKey.key, secretKey: sealingSecretKey)
                .flatMap { try ValueBinding.unbind($0, associatedData: ad) }
        }
        guard let plain else {
            throw ValueBinding.unreadable(line, environment,
                                          "does not decrypt: ciphertext altered, truncated, or copied from another name, environment or store")
        }
        return plain
    }

    /// Buffers reused while opening many lines in a row, so a member's value costs no
    /// allocation. The plaintext part is wiped after each value.
    struct OpeningBuffers {
        fileprivate var ciphertext: [UInt8] = []
        fileprivate var associatedData: [UInt8] = []
        fileprivate var plaintext: [UInt8] = []

        /// For tests: no plaintext is left behind.
        var plaintextIsWiped: Bool { plaintext.allSatisfy { $0 == 0 } }
    }

    /// Opens `line` like `open` (same errors) and passes the value to `body` from `buffers`,
    /// wiped before this returns.
    func withOpened<R>(_ line: SecretLine, using buffers: inout OpeningBuffers,
                       _ body: (Span<UInt8>) throws -> R) throws -> R {
        let overhead = Crypto.aeadNonceBytes + Crypto.aeadTagBytes
        guard line.isWellFormed, line.valueKind == .aead, line.ciphertext(into: &buffers.ciphertext),
              buffers.ciphertext.count >= overhead else {
            return try open(line).withBytes(body) // write-only values and errors: the general path
        }
        buffers.associatedData.removeAll(keepingCapacity: true)
        buffers.associatedData += associatedDataPrefix
        buffers.associatedData += line.name.utf8
        if format >= 2 {
            buffers.associatedData.append(0)
            buffers.associatedData += line.envVarBytes
        }
        let count = buffers.ciphertext.count - overhead
        if buffers.plaintext.count < count {
            Crypto.wipe(&buffers.plaintext)
            buffers.plaintext = [UInt8](repeating: 0, count: max(count, 2 * buffers.plaintext.count))
        }
        let opened = try buffers.plaintext.withUnsafeMutableBytes { storage in
            try buffers.ciphertext.withUnsafeBytes { ciphertext in
                try buffers.associatedData.withUnsafeBytes { associatedData in
                    try key.withUnsafeBytes { key in
                        try Crypto.open(ciphertext, key: key, associatedData: associatedData,
                                        into: UnsafeMutableRawBufferPointer(rebasing: storage[..<count]))
                    }
                }
            }
        }
        return try buffers.plaintext.withUnsafeMutableBytes { storage in
            let plaintext = UnsafeMutableRawBufferPointer(rebasing: storage[..<count])
            defer { Crypto.wipe(plaintext) }
            guard opened else { return try open(line).withBytes(body) } // throws the error that names the line
            return try body(UnsafeRawBufferPointer(plaintext).assumingMemoryBound(to: UInt8.self).span)
        }
    }

}

/// The public half of an environment's sealing key pair. Anyone with the repository can seal a
/// value to it (write-only contributors); only members, who can derive the secret half, open it.
public struct EnvironmentPublicKey: Sendable, Equatable {
    public let key: [UInt8]
    public let storeID: String
    public let environment: String
    let format: Int

    init(key: [UInt8], storeID: String, environment: String, format: Int = StoreFormat.version) {
        self.key = key
        self.storeID = storeID
        self.environment = environment
        self.format = format
    }

    /// Seals `value` for secret `name` mapped to `envVar`: `s:` + base64(sealed box of
    /// BLAKE2b(AD) ‖ value). The digest inside binds the value to its place as the AEAD's
    /// associated data does for members' values.
    public func seal(_ value: SecretBytes, name: String, envVar: String) throws -> String {
        let bound = try ValueBinding.bind(value, associatedData: ValueBinding.associatedData(
            ValueBinding.associatedDataPrefix(storeID: storeID, environment: environment, format: format),
            name: name, envVar: envVar, format: format))
        return StoreFormat.sealedValuePrefix + Crypto.base64(try Crypto.sealedBox(bound, to: key))
    }

    /// The length of what `seal` returns for a value of `valueLength` bytes.
    public static func sealedLength(valueLength: Int) -> Int {
        StoreFormat.sealedValuePrefix.utf8.count + Base64.encodedLength(Crypto.sealBytes + ValueBinding.digestBytes + valueLength)
    }
}
