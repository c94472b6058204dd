#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// An X25519 key pair and its key texts.
///
/// Key texts: `AGENT-SECRET-KEY-` or `agent-pub-` followed by unpadded base64url of the 32 key
/// bytes and a 4-byte BLAKE2b checksum of prefix ‖ key. The upper-case secret prefix is what leak
/// scanners (and `agent scan`) look for.
public struct Identity: Sendable {
    public static let secretKeyPrefix = "AGENT-SECRET-KEY-"
    public static let publicKeyPrefix = "agent-pub-"
    static let checksumBytes = 4

    public let publicKey: [UInt8]
    public let secretKey: SecretBytes

    public init(secretKey: SecretBytes) throws {
        self.secretKey = secretKey
        self.publicKey = try Crypto.publicKey(forSecretKey: secretKey)
    }

    public static func generate() throws -> Identity {
        try Identity(secretKey: Crypto.newKeyPair().secretKey)
    }

    public var publicKeyText: String { Self.publicKeyText(publicKey) }

    /// The secret key text. Callers print or store it once and drop it.
    public var secretKeyText: String {
        var key: [UInt8] = []
        secretKey.append(to: &key)
        defer { Crypto.wipe(&key) }
        return Self.encode(key, prefix: Self.secretKeyPrefix)
    }

    public static func publicKeyText(_ key: [UInt8]) -> String { encode(key, prefix: publicKeyPrefix) }

    /// Parses a secret key text; errors never echo the text.
    public static func parseSecretKey(_ text: String) throws -> Identity {
        let bytes = try decode(text.trimmingWhitespace(), prefix: secretKeyPrefix, what: "identity")
        return try Identity(secretKey: SecretBytes(bytes))
    }

    public static func parsePublicKey(_ text: String) throws -> [UInt8] {
        try decode(text.trimmingWhitespace(), prefix: publicKeyPrefix, what: "public key")
    }

    private static func encode(_ key: [UInt8], prefix: String) -> String {
        var payload = key
        payload += (try? Crypto.hash(Array(prefix.utf8) + key, length: checksumBytes)) ?? []
        defer { Crypto.wipe(&payload) }
        return prefix + Crypto.base64(payload, variant: .urlSafeNoPadding)
    }

    private static func decode(_ text: String, prefix: String, what: String) throws -> [UInt8] {
        guard text.hasPrefix(prefix) else {
            throw AgentError(.authenticationFailed, "\(what) is not a key text: it must start with \(prefix)",
                             details: [.init(loc: [what], msg: "wrong prefix", type: "invalid_key")],
                             hint: what == "identity" ? "create one with `agent keygen`" : nil)
        }
        guard var payload = Crypto.decodeBase64(text.utf8.dropFirst(prefix.utf8.count), variant: .urlSafeNoPadding),
              payload.count == Crypto.secretKeyBytes + checksumBytes
        else {
            throw AgentError(.authenticationFailed, "\(what) key text is malformed (bad length or characters)",
                             details: [.init(loc: [what], msg: "malformed key text", type: "invalid_key")])
        }
        defer { Crypto.wipe(&payload) }
        let key = Array(payload[0..<Crypto.secretKeyBytes])
        let expected = try Crypto.hash(Array(prefix.utf8) + key, length: checksumBytes)
        guard Crypto.equal(expected, Array(payload[Crypto.secretKeyBytes...])) else {
            throw AgentError(.authenticationFailed, "\(what) key text has a bad checksum (mistyped or truncated?)",
                             details: [.init(loc: [what], msg: "bad checksum", type: "invalid_key")])
        }
        return key
    }
}

/// Where an identity comes from; the first that is set wins.
public struct IdentitySource: Sendable {
    public var environmentText: String?
    public var environmentFile: String?
    public var flagFile: String?
    public var defaultFile: String
    /// Asked for the passphrase of a protected identity file that is not resident yet.
    public var passphraseProvider: PassphraseProvider

    public init(environmentText: String?, environmentFile: String?, flagFile: String?, defaultFile: String,
                passphraseProvider: PassphraseProvider = .standard) {
        self.environmentText = environmentText
        self.environmentFile = environmentFile
        self.flagFile = flagFile
        self.defaultFile = defaultFile
        self.passphraseProvider = passphraseProvider
    }

    /// Reads `AGENT_IDENTITY`, `AGENT_IDENTITY_FILE` and the config dir from the process environment.
    public static func fromEnvironment(flagFile: String?) -> IdentitySource {
        let env = FileIO.environment
        let configHome = env("XDG_CONFIG_HOME").flatMap { $0.isEmpty ? nil : $0 }
            ?? "\(env("HOME") ?? "/root")/.config"
        return IdentitySource(
            environmentText: env("AGENT_IDENTITY").flatMap { $0.isEmpty ? nil : $0 },
            environmentFile: env("AGENT_IDENTITY_FILE").flatMap { $0.isEmpty ? nil : $0 },
            flagFile: flagFile,
            defaultFile: "\(configHome)/envagent/identity")
    }

    /// The file an identity would be written to by `agent keygen`.
    public var writableFile: String { environmentFile ?? flagFile ?? defaultFile }

    /// This source with another passphrase provider.
    public func with(_ passphraseProvider: PassphraseProvider) -> IdentitySource {
        var copy = self
        copy.passphraseProvider = passphraseProvider
        return copy
    }

    /// Loads the identity, or nil when none is configured at all (the default file is absent).
    /// A configured but unreadable, exposed or malformed identity is an error. A protected file
    /// is unlocked with the resident identity of the same public key when there is one, else
    /// with `passphraseProvider`; what it unlocks becomes resident (asked once per process).
    public func load() throws -> Identity? {
        try load(passphraseProvider: passphraseProvider)
    }

    public func load(passphraseProvider: PassphraseProvider) throws -> Identity? {
        if let text = environmentText { return try Identity.parseSecretKey(text) }
        let path = environmentFile ?? flagFile ?? defaultFile
        guard let file = try Self.readFile(path, required: environmentFile ?? flagFile != nil) else { return nil }
        return try Self.identity(in: file, path: path, passphraseProvider: passphraseProvider)
    }

    /// The public key of the identity, or nil when none is configured; never asks for a passphrase.
    public func publicKey() throws -> [UInt8]? {
        if let text = environmentText { return try Identity.parseSecretKey(text).publicKey }
        let path = environmentFile ?? flagFile ?? defaultFile
        return try Self.readFile(path, required: environmentFile ?? flagFile != nil)?.publicKey
    }

    /// The identity file this source reads when no key text is given.
    public var file: String { environmentFile ?? flagFile ?? defaultFile }

    public func require() throws -> Identity {
        guard let identity = try load() else { throw noIdentity }
        return identity
    }

    /// Unlocks the identity once and keeps it resident in this process, so later loads of the
    /// same identity (by any `IdentitySource` whose file states the same public key) never ask
    /// again. What `agent serve`, `agent watch` and a resident agent call at start.
    @discardableResult
    public func unlockResident(passphraseProvider: PassphraseProvider? = nil) throws -> Identity {
        guard let identity = try load(passphraseProvider: passphraseProvider ?? self.passphraseProvider) else { throw noIdentity }
        ResidentIdentity.install(identity)
        return identity
    }

    private var noIdentity: AgentError {
        AgentError(.authenticationFailed, "no identity: \(defaultFile) does not exist and AGENT_IDENTITY is not set",
                   details: [.init(loc: ["identity"], msg: "no identity configured", type: "missing")],
                   hint: "create one with `agent keygen`, or set AGENT_IDENTITY / AGENT_IDENTITY_FILE")
    }

    /// The identity of `file` read from `path`.
    /// `usesResident: false` always asks (to prove the passphrase before changing it).
    public static func identity(in file: IdentityFile, path: String, passphraseProvider: PassphraseProvider,
                                usesResident: Bool = true) throws -> Identity {
        switch file {
        case .plain(let identity):
            return identity
        case .protected(let protected):
            if usesResident, let resident = ResidentIdentity.identity(publicKey: protected.publicKey) { return resident }
            var attempt = 1
            while let passphrase = try passphraseProvider.passphrase(PassphraseRequest(file: path, attempt: attempt)) {
                if let identity = try protected.unlock(passphrase: passphrase) {
                    ResidentIdentity.install(identity)
                    return identity
                }
                attempt += 1
            }
            throw attempt == 1 ? locked(path) : wrongPassphrase(path)
        }
    }

    /// `authentication_failed` for a protected identity and no way to get its passphrase.
    public static func locked(_ path: String) -> AgentError {
        AgentError(.authenticationFailed, "identity file \(path) is protected by a passphrase and there is no terminal to ask for it",
                   details: [.init(loc: ["identity"], msg: "passphrase required", type: "passphrase_required")],
                   hint: "start the agent once (`eval \"$(agent start)\"`), set \(PassphraseProvider.fileVariable) to a file holding the passphrase, or use AGENT_IDENTITY in CI")
    }

    /// `authentication_failed` for a wrong passphrase (or a changed file: they look the same).
    public static func wrongPassphrase(_ path: String) -> AgentError {
        AgentError(.authenticationFailed, "cannot unlock identity file \(path): wrong passphrase, or the file was changed",
                   details: [.init(loc: ["identity"], msg: "wrong passphrase", type: "wrong_passphrase")],
                   hint: "check the passphrase (and \(PassphraseProvider.fileVariable) when set); a changed file must be restored from a backup")
    }

    /// The parsed identity file at `path`, after the mode and ownership checks; nil when it is
    /// absent and not `required`.
    public static func readFile(_ path: String, required: Bool) throws -> IdentityFile? {
        guard let mode = FileIO.mode(path) else {
            if !required { return nil }
            throw AgentError(.authenticationFailed, "identity file \(path) does not exist",
                             hint: "create it with `agent keygen`")
        }
        guard mode & 0o077 == 0 else {
            throw AgentError(.authenticationFailed,
                             "identity file \(path) is readable by others (mode \(String(mode, radix: 8)))",
                             hint: "chmod 600 \(path)")
        }
        try checkOwnership(path)
        var bytes = try FileIO.read(path)
        defer { Crypto.wipe(&bytes) }
        return try IdentityFile.parse(bytes, path: path)
    }

    /// As ssh checks its keys' paths: the file is the user's own, and its folder belongs to the
    /// user (or root) and is not writable by others, who could otherwise replace the key.
    static func checkOwnership(_ path: String) throws {
        let user = geteuid()
        if let owner = FileIO.owner(path), owner != user {
            throw AgentError(.authenticationFailed, "identity file \(path) belongs to another user (uid \(owner))",
                             hint: "use an identity file of your own (`agent keygen`), or `chown` this one to you")
        }
        let folder = FileIO.dirname(path)
        if let owner = FileIO.owner(folder), owner != user, owner != 0 {
            throw AgentError(.authenticationFailed, "the folder \(folder) of identity file \(path) belongs to another user (uid \(owner))",
                             hint: "keep the identity in a folder of your own (mode 0700)")
        }
        if let mode = FileIO.mode(folder), mode & 0o022 != 0 {
            throw AgentError(.authenticationFailed,
                             "the folder \(folder) of identity file \(path) is writable by others (mode \(String(mode, radix: 8)))",
                             hint: "chmod go-w \(folder)")
        }
    }

    /// Writes a new identity file (0600 in a 0700 folder), sealed under `passphrase` when given;
    /// never overwrites one.
    public func write(_ identity: Identity, to path: String, passphrase: SecretBytes? = nil,
                      limits: PassphraseLimits = .moderate) throws {
        let text = try IdentityFile.text(for: identity, passphrase: passphrase, limits: limits)
        try FileIO.makeDirectories(FileIO.dirname(path), mode: 0o700)
        do {
            try FileIO.createExclusively(path, secret: text, mode: 0o600)
        } catch var error as AgentError where error.kind == .alreadyExists {
            // Never advise deleting it: it may be the only key that opens someone's values.
            error.message = "an identity file already exists at \(path); it is kept as it is"
            error.details = [.init(loc: ["identity"], msg: "file exists", type: "already_exists")]
            error.hint = "`agent whoami` prints its public key; to create another identity, write it elsewhere with `agent keygen -o FILE`"
            throw error
        }
    }

    /// Replaces the identity file at `path` with `identity`, sealed under `passphrase` or plain
    /// without one: the new file is written and synced beside it (mode 0600) and renamed over
    /// it, so the old file stays whole until the new one is complete.
    public static func replace(_ path: String, with identity: Identity, passphrase: SecretBytes?,
                               limits: PassphraseLimits = .moderate) throws {
        let text = try IdentityFile.text(for: identity, passphrase: passphrase, limits: limits)
        // Never replace a key with a file that would not give it back.
        var written: [UInt8] = []
        text.append(to: &written)
        defer { Crypto.wipe(&written) }
        guard try IdentityFile.parse(written, path: path).publicKey == identity.publicKey else {
            throw AgentError.internal("the new identity file does not hold the same key")
        }
        try FileIO.writeAtomically(path, secret: text, mode: 0o600)
    }
}

/// Identities unlocked in this process, found by public key: a protected identity file is
/// unlocked once and every later load of the same key (another `IdentitySource`, another
/// request of a long-running process, a forked child) uses the resident one.
public enum ResidentIdentity {
    private static let identities = Mutex<[Identity]>([])

    public static func install(_ identity: Identity) {
        identities.withLock { list in
            if !list.contains(where: { Crypto.equal($0.publicKey, identity.publicKey) }) { list.append(identity) }
        }
    }

    public static func identity(publicKey: [UInt8]) -> Identity? {
        identities.withLock { list in list.first { Crypto.equal($0.publicKey, publicKey) } }
    }

    /// Drops every resident identity; each secret key is wiped when its last user lets go.
    public static func removeAll() {
        identities.withLock { $0.removeAll() }
    }
}

extension StringProtocol {
    func trimmingWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard let first = firstIndex(where: { !isSpace($0) }) else { return "" }
        let last = lastIndex(where: { !isSpace($0) })!
        return String(self[first...last])
    }
}
