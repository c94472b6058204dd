import CAgentShims
import CLibgit2

/// OpenSSH `known_hosts`, read by libssh2's own parser (`libssh2_knownhost_*`, through
/// `envagent_knownhost_check`): plain patterns (`host`, `host1,host2`, `[host]:port`) and
/// entries hashed by `HashKnownHosts` (`|1|salt|hash`), every key type libssh2 knows (ed25519,
/// ecdsa-sha2-nistp256/384/521, ssh-rsa, ssh-dss).
enum KnownHosts {
    enum Verdict: Equatable {
        case match
        /// The host is known with another key of the same type.
        case mismatch
        /// No key of this type is known for the host; `knownTypes` names the types it is known by.
        case unknown(knownTypes: [String])
    }

    /// libssh2's LIBSSH2_KNOWNHOST_KEY_* numbers and the OpenSSH names.
    static let keyTypes: [(number: Int32, name: String)] = [
        (2, "ssh-rsa"), (3, "ssh-dss"), (4, "ecdsa-sha2-nistp256"), (5, "ecdsa-sha2-nistp384"),
        (6, "ecdsa-sha2-nistp521"), (7, "ssh-ed25519"),
    ]

    static func keyType(_ type: git_cert_ssh_raw_type_t) -> (number: Int32, name: String)? {
        switch type {
        case GIT_CERT_SSH_RAW_TYPE_KEY_ED25519: keyTypes[5]
        case GIT_CERT_SSH_RAW_TYPE_KEY_ECDSA_256: keyTypes[2]
        case GIT_CERT_SSH_RAW_TYPE_KEY_ECDSA_384: keyTypes[3]
        case GIT_CERT_SSH_RAW_TYPE_KEY_ECDSA_521: keyTypes[4]
        case GIT_CERT_SSH_RAW_TYPE_RSA: keyTypes[0]
        case GIT_CERT_SSH_RAW_TYPE_DSS: keyTypes[1]
        default: nil
        }
    }

    /// The port of an `ssh://host:port/…` URL (22 otherwise).
    static func port(of url: String) -> Int {
        guard url.hasPrefix("ssh://") else { return 22 }
        var rest = url.dropFirst("ssh://".count)
        if let slash = rest.firstIndex(of: "/") { rest = rest[..<slash] }
        if let at = rest.lastIndex(of: "@") { rest = rest[rest.index(after: at)...] }
        guard let colon = rest.lastIndex(of: ":"), let port = Int(rest[rest.index(after: colon)...]) else { return 22 }
        return port
    }

    /// The host of an `ssh://[user@]host[:port]/…` or scp-like `[user@]host:path` URL.
    static func host(of url: String) -> String? {
        var rest = Substring(url)
        if rest.hasPrefix("ssh://") {
            rest = rest.dropFirst("ssh://".count)
            if let slash = rest.firstIndex(of: "/") { rest = rest[..<slash] }
        } else if let colon = rest.firstIndex(of: ":"), !rest.contains("://") {
            rest = rest[..<colon]
        } else {
            return nil
        }
        if let at = rest.lastIndex(of: "@") { rest = rest[rest.index(after: at)...] }
        if rest.hasPrefix("["), let close = rest.firstIndex(of: "]") { return String(rest[rest.index(after: rest.startIndex)..<close]) }
        if let colon = rest.lastIndex(of: ":") { rest = rest[..<colon] }
        return rest.isEmpty ? nil : String(rest)
    }

    static func pattern(host: String, port: Int) -> String { port == 22 ? host : "[\(host)]:\(port)" }

    /// Checks the raw host key `key` of type `type` for `host`:`port`.
    static func check(file: String, host: String, port: Int, key: [UInt8], type: git_cert_ssh_raw_type_t) -> Verdict {
        guard let keyType = keyType(type) else { return .unknown(knownTypes: knownTypes(file: file, host: host, port: port)) }
        return check(file: file, host: host, port: port, key: key, typeNumber: keyType.number)
    }

    /// The same with libssh2's key type number (`keyTypes`).
    static func check(file: String, host: String, port: Int, key: [UInt8], typeNumber: Int32) -> Verdict {
        let (verdict, known) = libssh2Check(file: file, host: host, port: port, key: key, type: typeNumber)
        switch verdict {
        case 0: return .match
        case 1: return .mismatch
        default: return .unknown(knownTypes: known)
        }
    }

    /// The key types `file` knows `host`:`port` by.
    static func knownTypes(file: String, host: String, port: Int) -> [String] {
        libssh2Check(file: file, host: host, port: port, key: [0], type: 7).knownTypes
    }

    private static func libssh2Check(file: String, host: String, port: Int, key: [UInt8], type: Int32) -> (verdict: Int32, knownTypes: [String]) {
        guard let bytes = try? FileIO.read(file) else { return (2, []) }
        var mask: Int32 = 0
        let verdict = bytes.withUnsafeBytes { contents in
            key.withUnsafeBytes { keyBytes in
                envagent_knownhost_check(contents.baseAddress?.assumingMemoryBound(to: CChar.self), contents.count, host, Int32(port),
                                         keyBytes.baseAddress?.assumingMemoryBound(to: CChar.self), keyBytes.count, type, &mask)
            }
        }
        return (verdict, keyTypes.filter { mask & (1 << $0.number) != 0 }.map(\.name))
    }

    static func append(file: String, host: String, port: Int, key: [UInt8], type: git_cert_ssh_raw_type_t) throws {
        guard let name = keyType(type)?.name else { throw AgentError.internal("unknown host key type") }
        try FileIO.makeDirectories(FileIO.dirname(file), mode: 0o700)
        var existing = (try? FileIO.read(file)) ?? []
        if let last = existing.last, last != UInt8(ascii: "\n") { existing.append(UInt8(ascii: "\n")) }
        existing += Array("\(pattern(host: host, port: port)) \(name) \(Crypto.base64(key))\n".utf8)
        try FileIO.writeAtomically(file, bytes: existing, mode: 0o600)
    }
}
