import FoundationEssentials // Linux only (Package.swift): the smaller Foundation suffices
#if canImport(Glibc)
import Glibc
#endif

/// API tokens, kept outside the git repository in the server's state folder
/// (`${XDG_STATE_HOME:-~/.local/state}/envagent`, mode 0700) as `tokens.json` (mode 0600).
///
/// A token is `agt_<id>_<secret>`: a 12-hex-digit id that names its record and 32 random bytes
/// (base64url). Only BLAKE2b-256(salt ‖ secret) with a per-token 16-byte salt is stored, and it
/// is compared in constant time (`sodium_memcmp`). The secret is 256 random bits, so a fast hash
/// is enough: there is nothing to brute-force that a slow password hash would protect.
public struct TokenStore: Sendable {
    public static let prefix = "agt_"
    /// The longest lifetime a token may have (10 years): a longer one is refused, so no expiry
    /// overflows or leaves the four-digit years of RFC 3339.
    public static let maxTTLSeconds: Int64 = 3650 * 86400
    static let idBytes = 6
    static let secretBytes = 32
    static let saltBytes = 16
    static let hashBytes = 32

    public let directory: String
    public var file: String { directory + "/tokens.json" }

    public init(directory: String) {
        self.directory = directory
    }

    /// `$XDG_STATE_HOME/envagent`, else `~/.local/state/envagent`.
    public static func defaultDirectory() -> String {
        let state = FileIO.environment("XDG_STATE_HOME").flatMap { $0.isEmpty ? nil : $0 }
            ?? "\(FileIO.environment("HOME") ?? "/root")/.local/state"
        return state + "/envagent"
    }

    struct File: Codable {
        var format = 1
        var tokens: [TokenRecord] = []
    }

    // MARK: Managing tokens (the `agent tokens` commands)

    /// Creates a token; the returned text is shown once and is not stored anywhere.
    public func create(scopes: [TokenScope], environments: [String], ttlSeconds: Int64?, label: String?,
                       store: String, now: Int64) throws -> (token: String, record: TokenRecord) {
        guard !scopes.isEmpty else {
            throw AgentError(.validationError, "a token needs at least one scope",
                             details: [.init(loc: ["scope"], msg: "read, write or reveal", type: "missing")])
        }
        for environment in environments { try Validation.environment(environment) }
        if let ttlSeconds, !(1...Self.maxTTLSeconds).contains(ttlSeconds) {
            throw AgentError(.validationError, "the time to live must be between 1 second and \(Self.maxTTLSeconds / 86400) days",
                             details: [.init(loc: ["ttl"], msg: "between 1s and \(Self.maxTTLSeconds / 86400)d", type: "invalid_ttl")],
                             hint: "pass a shorter --ttl (e.g. 365d), or none for a token that never expires")
        }
        let id = try Crypto.randomBytes(Self.idBytes).map { String($0, radix: 16).leftPadded(2) }.joined()
        var secret = try Crypto.randomBytes(Self.secretBytes)
        defer { Crypto.wipe(&secret) }
        let encodedSecret = Crypto.base64(secret, variant: .urlSafeNoPadding)
        let salt = try Crypto.randomBytes(Self.saltBytes)
        let record = TokenRecord(id: id, label: label, scopes: Array(Set(scopes)).sorted(),
                                 environments: Array(Set(environments)).sorted(), store: store, created: now,
                                 expires: ttlSeconds.map { now + $0 },
                                 salt: Crypto.base64(salt), hash: Crypto.base64(try Self.digest(salt: salt, secret: Array(encodedSecret.utf8))))
        try update { $0.tokens.append(record) }
        return (Self.prefix + id + "_" + encodedSecret, record)
    }

    /// Tokens of `store` (all when nil), oldest first.
    public func list(store: String?) throws -> [TokenRecord] {
        try load().filter { store == nil || $0.store == store }
    }

    /// Removes the token with `id` (or the token text's id); `not_found` when there is none.
    @discardableResult
    public func revoke(_ idOrToken: String) throws -> TokenRecord {
        let id = Self.split(idOrToken)?.id ?? idOrToken
        var removed: TokenRecord?
        try update { file in
            guard let index = file.tokens.firstIndex(where: { $0.id == id }) else { return }
            removed = file.tokens.remove(at: index)
        }
        guard let removed else {
            throw AgentError(.notFound, "no token with id '\(id.prefix(40))'",
                             details: [.init(loc: ["id"], msg: "no such token", type: "not_found")],
                             hint: "list tokens with `agent tokens list`")
        }
        return removed
    }

    // MARK: Checking a token (the server)

    /// The record a presented token text authenticates, else `authentication_failed`. The
    /// message never repeats the presented text.
    public static func verify(_ token: String, records: [String: TokenRecord], store: String, now: Int64) throws -> TokenRecord {
        guard let (id, secret) = split(token), let record = records[id], record.store == store,
              let salt = Crypto.decodeBase64(record.salt.utf8), let expected = Crypto.decodeBase64(record.hash.utf8),
              Crypto.equal(try digest(salt: salt, secret: Array(secret.utf8)), expected)
        else {
            throw AgentError(.authenticationFailed, "the bearer token is not valid for this server",
                             details: [.init(loc: ["header", "Authorization"], msg: "unknown token", type: "invalid_token")],
                             hint: "create one with `agent tokens create --scope read`")
        }
        guard !record.isExpired(now: now) else {
            throw AgentError(.authenticationFailed, "the bearer token has expired",
                             details: [.init(loc: ["header", "Authorization"], msg: "expired token", type: "expired_token")],
                             hint: "create a new one with `agent tokens create`")
        }
        return record
    }

    static func digest(salt: [UInt8], secret: [UInt8]) throws -> [UInt8] {
        var input = salt + secret
        defer { Crypto.wipe(&input) }
        return try Crypto.hash(input, length: hashBytes)
    }

    /// `agt_<id>_<secret>` → (id, secret).
    static func split(_ token: String) -> (id: String, secret: Substring)? {
        let idLength = idBytes * 2
        guard token.hasPrefix(prefix), token.utf8.count > prefix.utf8.count + idLength + 1 else { return nil }
        let idStart = token.index(token.startIndex, offsetBy: prefix.count)
        let idEnd = token.index(idStart, offsetBy: idLength)
        guard token[idEnd] == "_" else { return nil }
        return (String(token[idStart..<idEnd]), token[token.index(after: idEnd)...])
    }

    // MARK: The file

    /// The records, checked: the folder and the file must not be open to others.
    public func load() throws -> [TokenRecord] {
        guard let mode = FileIO.mode(file) else { return [] }
        try checkPrivate(directory, mode: FileIO.mode(directory) ?? 0, what: "state folder")
        try checkPrivate(file, mode: mode, what: "tokens file")
        return try Self.decode(FileIO.read(file), path: file).tokens
    }

    /// Identity of the file as it is now (inode, size, change time), to notice edits cheaply.
    public func stamp() -> [Int]? {
        var st = stat()
        guard stat(file, &st) == 0 else { return nil }
        return [Int(st.st_ino), Int(st.st_size), Int(st.st_mtim.tv_sec), Int(st.st_mtim.tv_nsec),
                Int(st.st_ctim.tv_sec), Int(st.st_ctim.tv_nsec)]
    }

    private func checkPrivate(_ path: String, mode: mode_t, what: String) throws {
        guard mode & 0o077 == 0 else {
            throw AgentError(.internalError, "\(what) \(path) is open to other users (mode \(String(mode, radix: 8)))",
                             hint: "chmod \(what == "tokens file" ? "600" : "700") \(path)")
        }
    }

    static func decode(_ bytes: [UInt8], path: String) throws -> File {
        do {
            return try JSONDecoder().decode(File.self, from: Data(bytes))
        } catch {
            throw AgentError(.internalError, "\(path) is not a valid tokens file", hint: "fix or remove it")
        }
    }

    /// Read-modify-write under an exclusive lock; the new file replaces the old atomically.
    private func update(_ change: (inout File) throws -> Void) throws {
        let existed = FileIO.isDirectory(directory)
        try FileIO.makeDirectories(directory, mode: 0o700)
        if !existed { _ = chmod(directory, 0o700) }
        try checkPrivate(directory, mode: FileIO.mode(directory) ?? 0, what: "state folder")
        let lockPath = directory + "/tokens.lock"
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw AgentError(.internalError, "cannot open \(lockPath): \(FileIO.errnoMessage())") }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else { throw AgentError(.internalError, "cannot lock \(lockPath): \(FileIO.errnoMessage())") }
        }
        defer { flock(fd, LOCK_UN) }
        var contents = File()
        if let mode = FileIO.mode(file) {
            try checkPrivate(file, mode: mode, what: "tokens file")
            contents = try Self.decode(FileIO.read(file), path: file)
        }
        try change(&contents)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(contents)
        try FileIO.writeAtomically(file, bytes: Array(data) + [0x0A], mode: 0o600)
    }
}

extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
