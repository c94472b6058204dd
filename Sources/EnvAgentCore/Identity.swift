#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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
    public var secretKeyText: String { Self.encode(secretKey.bytes, prefix: Self.secretKeyPrefix) }

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

    public init(environmentText: String?, environmentFile: String?, flagFile: String?, defaultFile: String) {
        self.environmentText = environmentText
        self.environmentFile = environmentFile
        self.flagFile = flagFile
        self.defaultFile = defaultFile
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

    /// Loads the identity, or nil when none is configured at all (the default file is absent).
    /// A configured but unreadable, exposed or malformed identity is an error.
    public func load() throws -> Identity? {
        if let text = environmentText { return try Identity.parseSecretKey(text) }
        if let file = environmentFile ?? flagFile { return try Self.loadFile(file, required: true) }
        return try Self.loadFile(defaultFile, required: false)
    }

    /// The identity file this source reads when no key text is given.
    public var file: String { environmentFile ?? flagFile ?? defaultFile }

    public func require() throws -> Identity {
        guard let identity = try load() else {
            throw AgentError(.authenticationFailed, "no identity: \(defaultFile) does not exist and AGENT_IDENTITY is not set",
                             details: [.init(loc: ["identity"], msg: "no identity configured", type: "missing")],
                             hint: "create one with `agent keygen`, or set AGENT_IDENTITY / AGENT_IDENTITY_FILE")
        }
        return identity
    }

    static func loadFile(_ path: String, required: Bool) throws -> Identity? {
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
        // Checked like the file, but not read again: the key the resident agent unlocked.
        if let resident = ResidentIdentity.matching(path) { return resident }
        var bytes = try FileIO.read(path)
        defer { Crypto.wipe(&bytes) }
        let text = String(decoding: bytes, as: UTF8.self)
        guard let line = text.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" })
            .map({ $0.trimmingWhitespace() })
            .first(where: { !$0.isEmpty && !$0.hasPrefix("#") })
        else {
            throw AgentError(.authenticationFailed, "identity file \(path) holds no key",
                             hint: "create one with `agent keygen`")
        }
        return try Identity.parseSecretKey(line)
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

    /// Writes a new identity file (0600 in a 0700 folder); never overwrites one.
    public func write(_ identity: Identity, to path: String) throws {
        let folder = FileIO.dirname(path)
        try FileIO.makeDirectories(folder, mode: 0o700)
        let text = "# EnvAgent identity. Keep this file private (mode 0600).\n# public key: \(identity.publicKeyText)\n\(identity.secretKeyText)\n"
        var bytes = Array(text.utf8)
        defer { Crypto.wipe(&bytes) }
        do {
            try FileIO.createExclusively(path, bytes: bytes, mode: 0o600)
        } catch var error as AgentError where error.kind == .alreadyExists {
            // Never advise deleting it: it may be the only key that opens someone's values.
            error.message = "an identity file already exists at \(path); it is kept as it is"
            error.details = [.init(loc: ["identity"], msg: "file exists", type: "already_exists")]
            error.hint = "`agent whoami` prints its public key; to create another identity, write it elsewhere with `agent keygen -o FILE`"
            throw error
        }
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
