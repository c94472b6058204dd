import CSodium

/// What an identity file holds: the secret key text in the clear, or the secret key sealed under
/// a passphrase (README "Identity", docs/format.md "Identity files").
///
/// A protected file keeps its public key readable, so `agent whoami` and recipient listings
/// never ask for the passphrase; only using the secret key does.
public enum IdentityFile: Sendable {
    case plain(Identity)
    case protected(ProtectedIdentity)

    /// The public key, readable without a passphrase.
    public var publicKey: [UInt8] {
        switch self {
        case .plain(let identity): identity.publicKey
        case .protected(let protected): protected.publicKey
        }
    }

    public var isProtected: Bool {
        if case .protected = self { true } else { false }
    }

    /// Parses the bytes of the identity file at `path` (named in errors; the bytes never are).
    public static func parse(_ bytes: [UInt8], path: String) throws -> IdentityFile {
        let lines = String(decoding: bytes, as: UTF8.self)
            .split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.hasSuffix("\r") ? String($0.dropLast()) : String($0) }
            .filter { !$0.trimmingWhitespace().isEmpty && !$0.trimmingWhitespace().hasPrefix("#") }
        guard let first = lines.first else {
            throw AgentError(.authenticationFailed, "identity file \(path) holds no key",
                             hint: "create one with `agent keygen`")
        }
        if first.hasPrefix(ProtectedIdentity.versionField) {
            return .protected(try ProtectedIdentity(lines: lines, path: path))
        }
        return .plain(try Identity.parseSecretKey(first))
    }

    /// The file text for `identity`: sealed under `passphrase` with `limits`, or plain without one.
    public static func text(for identity: Identity, passphrase: SecretBytes?,
                            limits: PassphraseLimits = .moderate) throws -> SecretBytes {
        guard let passphrase else {
            var text = Array("# EnvAgent identity. Keep this file private (mode 0600).\n# public key: \(identity.publicKeyText)\n".utf8)
            Crypto.reserveWiping(&text, extra: 200)
            text += identity.secretKeyText.utf8
            text.append(UInt8(ascii: "\n"))
            defer { Crypto.wipe(&text) }
            return SecretBytes(text)
        }
        return SecretBytes(Array(try ProtectedIdentity.seal(identity, passphrase: passphrase, limits: limits).text.utf8))
    }
}

/// The cost of deriving the key from a passphrase (Argon2id): libsodium's named limits.
public struct PassphraseLimits: Sendable, Equatable {
    public var opsLimit: UInt64
    public var memLimit: Int

    public init(opsLimit: UInt64, memLimit: Int) {
        self.opsLimit = opsLimit
        self.memLimit = memLimit
    }

    /// 2 passes over 64 MiB (`crypto_pwhash_*_INTERACTIVE`): about 0.1–0.2 s here.
    public static let interactive = PassphraseLimits(opsLimit: UInt64(crypto_pwhash_opslimit_interactive()),
                                                     memLimit: crypto_pwhash_memlimit_interactive())
    /// 3 passes over 256 MiB (`crypto_pwhash_*_MODERATE`): about 0.7 s idle, 2 s loaded here. The default.
    public static let moderate = PassphraseLimits(opsLimit: UInt64(crypto_pwhash_opslimit_moderate()),
                                                  memLimit: crypto_pwhash_memlimit_moderate())
    /// 4 passes over 1 GiB (`crypto_pwhash_*_SENSITIVE`): several seconds.
    public static let sensitive = PassphraseLimits(opsLimit: UInt64(crypto_pwhash_opslimit_sensitive()),
                                                   memLimit: crypto_pwhash_memlimit_sensitive())

    public static func named(_ name: String) -> PassphraseLimits? {
        switch name {
        case "interactive": .interactive
        case "moderate": .moderate
        case "sensitive": .sensitive
        default: nil
        }
    }

    /// What a reader accepts from a file: libsodium's minimum up to 64 passes and 4 GiB, so a
    /// file cannot make unlocking run for hours or exhaust memory.
    static let opsRange: ClosedRange<UInt64> = UInt64(crypto_pwhash_opslimit_min())...64
    static let memRange: ClosedRange<Int> = crypto_pwhash_memlimit_min()...(4 << 30)
}

/// A secret key sealed under a passphrase: Argon2id derives a key from the passphrase and a
/// random salt; XChaCha20-Poly1305 seals the 32 key bytes with the header lines (format version,
/// public key, KDF parameters, salt, nonce) as associated data, so changing any of them fails
/// to unlock like a wrong passphrase does.
public struct ProtectedIdentity: Sendable {
    public static let version = 1
    static let versionField = "envagent-identity:"
    static let algorithmName = "argon2id13"

    public let publicKey: [UInt8]
    public let limits: PassphraseLimits
    public let salt: [UInt8]
    public let nonce: [UInt8]
    /// The sealed secret key and its tag (32 + 16 bytes).
    public let sealedKey: [UInt8]

    init(publicKey: [UInt8], limits: PassphraseLimits, salt: [UInt8], nonce: [UInt8], sealedKey: [UInt8]) {
        self.publicKey = publicKey
        self.limits = limits
        self.salt = salt
        self.nonce = nonce
        self.sealedKey = sealedKey
    }

    /// Seals `identity` under `passphrase` with a fresh salt and nonce.
    public static func seal(_ identity: Identity, passphrase: SecretBytes, limits: PassphraseLimits) throws -> ProtectedIdentity {
        guard passphrase.count > 0 else {
            throw AgentError.validation("passphrase", "the passphrase is empty", type: "empty")
        }
        let salt = try Crypto.randomBytes(Crypto.passphraseSaltBytes)
        let key = try Crypto.deriveKey(passphrase: passphrase, salt: salt, opsLimit: limits.opsLimit, memLimit: limits.memLimit)
        let nonce = try Crypto.randomBytes(Crypto.aeadNonceBytes)
        let header = Self.header(publicKey: identity.publicKey, limits: limits, salt: salt, nonce: nonce)
        let sealedKey = try Crypto.seal(identity.secretKey, key: key, nonce: nonce, associatedData: Array(header.utf8))
        return ProtectedIdentity(publicKey: identity.publicKey, limits: limits, salt: salt, nonce: nonce, sealedKey: sealedKey)
    }

    /// The identity, or nil when `passphrase` is wrong or the file was changed (the two cannot
    /// be told apart, by design).
    public func unlock(passphrase: SecretBytes) throws -> Identity? {
        let key = try Crypto.deriveKey(passphrase: passphrase, salt: salt, opsLimit: limits.opsLimit, memLimit: limits.memLimit)
        guard let secretKey = try Crypto.open(nonce + sealedKey, key: key, associatedData: Array(headerText.utf8)),
              secretKey.count == Crypto.secretKeyBytes
        else { return nil }
        let identity = try Identity(secretKey: secretKey)
        // The associated data already binds the public key; this also catches a sealing bug.
        guard Crypto.equal(identity.publicKey, publicKey) else { return nil }
        return identity
    }

    /// The header lines, each ending in LF: the associated data of the sealed key.
    var headerText: String { Self.header(publicKey: publicKey, limits: limits, salt: salt, nonce: nonce) }

    static func header(publicKey: [UInt8], limits: PassphraseLimits, salt: [UInt8], nonce: [UInt8]) -> String {
        """
        \(versionField) \(version)
        public-key: \(Identity.publicKeyText(publicKey))
        kdf: \(algorithmName) opslimit=\(limits.opsLimit) memlimit=\(limits.memLimit)
        salt: \(Crypto.base64(salt, variant: .urlSafeNoPadding))
        nonce: \(Crypto.base64(nonce, variant: .urlSafeNoPadding))

        """
    }

    /// The whole file.
    public var text: String {
        "# EnvAgent identity, protected by a passphrase. Keep this file private (mode 0600).\n"
            + headerText + "secret-key: \(Crypto.base64(sealedKey, variant: .urlSafeNoPadding))\n"
    }

    /// Parses the non-comment lines of a protected identity file, strictly: exactly these six
    /// fields in this order, each `name: value`.
    init(lines: [String], path: String) throws {
        func malformed(_ what: String) -> AgentError {
            AgentError(.authenticationFailed, "identity file \(path) is malformed: \(what)",
                       details: [.init(loc: ["identity"], msg: what, type: "invalid_key")],
                       hint: "restore it from a backup, or create a new identity with `agent keygen`")
        }
        let names = ["envagent-identity", "public-key", "kdf", "salt", "nonce", "secret-key"]
        var values: [String] = []
        for (index, line) in lines.enumerated() {
            guard index < names.count else { throw malformed("unexpected line \(index + 1) after secret-key") }
            let prefix = names[index] + ": "
            guard line.hasPrefix(prefix) else { throw malformed("expected '\(names[index]):' on line \(index + 1)") }
            values.append(String(line.dropFirst(prefix.count)))
        }
        guard values.count == names.count else { throw malformed("missing '\(names[values.count]):'") }
        guard values[0] == String(Self.version) else {
            if let newer = Int(values[0]), newer > Self.version {
                throw AgentError(.authenticationFailed,
                                 "identity file \(path) has format version \(newer); this agent reads version \(Self.version)",
                                 details: [.init(loc: ["identity"], msg: "newer identity format", type: "unsupported_version")],
                                 hint: "upgrade agent")
            }
            throw malformed("unknown version '\(values[0])'")
        }
        let publicKey = try Identity.parsePublicKey(values[1])
        let kdf = values[2].split(separator: " ", omittingEmptySubsequences: false)
        guard kdf.count == 3, kdf[0] == Self.algorithmName,
              kdf[1].hasPrefix("opslimit="), let ops = UInt64(kdf[1].dropFirst(9)),
              kdf[2].hasPrefix("memlimit="), let mem = Int(kdf[2].dropFirst(9))
        else { throw malformed("kdf must be '\(Self.algorithmName) opslimit=N memlimit=N'") }
        guard PassphraseLimits.opsRange.contains(ops), PassphraseLimits.memRange.contains(mem) else {
            throw malformed("kdf limits out of range (opslimit \(PassphraseLimits.opsRange), memlimit \(PassphraseLimits.memRange))")
        }
        guard let salt = Crypto.decodeBase64(values[3].utf8, variant: .urlSafeNoPadding), salt.count == Crypto.passphraseSaltBytes else {
            throw malformed("salt must be \(Crypto.passphraseSaltBytes) bytes of base64url")
        }
        guard let nonce = Crypto.decodeBase64(values[4].utf8, variant: .urlSafeNoPadding), nonce.count == Crypto.aeadNonceBytes else {
            throw malformed("nonce must be \(Crypto.aeadNonceBytes) bytes of base64url")
        }
        guard let sealedKey = Crypto.decodeBase64(values[5].utf8, variant: .urlSafeNoPadding),
              sealedKey.count == Crypto.secretKeyBytes + Crypto.aeadTagBytes
        else { throw malformed("secret-key must be \(Crypto.secretKeyBytes + Crypto.aeadTagBytes) bytes of base64url") }
        self.init(publicKey: publicKey, limits: PassphraseLimits(opsLimit: ops, memLimit: mem),
                  salt: salt, nonce: nonce, sealedKey: sealedKey)
        // Only the canonical text is accepted: what the header would be re-serialised as must be
        // what the file says, byte for byte (base64url has one text per byte string; numbers
        // have none with leading zeros or signs).
        guard headerText == lines.prefix(5).joined(separator: "\n") + "\n" else { throw malformed("non-canonical header") }
    }
}

extension Identity {
    /// Unlocks the identity file `fileContents` (plain or protected) with `passphrase`;
    /// `authentication_failed` naming `path` when the passphrase is wrong or the file was changed.
    public static func unlock(fileContents: [UInt8], passphrase: SecretBytes, path: String = "identity file") throws -> Identity {
        switch try IdentityFile.parse(fileContents, path: path) {
        case .plain(let identity): return identity
        case .protected(let protected):
            guard let identity = try protected.unlock(passphrase: passphrase) else { throw IdentitySource.wrongPassphrase(path) }
            return identity
        }
    }
}
