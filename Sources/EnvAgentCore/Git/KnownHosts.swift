import CLibgit2

/// OpenSSH `known_hosts`: plain host patterns (`host`, `host1,host2`, `[host]:port`) with their
/// key type and base64 key blob. Hashed entries (`|1|…`, HashKnownHosts) are not matched, so such a
/// host counts as unknown.
enum KnownHosts {
    enum Verdict { case match, mismatch, unknown }

    /// The port of an `ssh://host:port/…` URL (22 otherwise).
    static func port(of url: String) -> Int {
        guard url.hasPrefix("ssh://") else { return 22 }
        var rest = url.dropFirst("ssh://".count)
        if let slash = rest.firstIndex(of: "/") { rest = rest[..<slash] }
        if let at = rest.lastIndex(of: "@") { rest = rest[rest.index(after: at)...] }
        guard let colon = rest.lastIndex(of: ":"), let port = Int(rest[rest.index(after: colon)...]) else { return 22 }
        return port
    }

    static func pattern(host: String, port: Int) -> String { port == 22 ? host : "[\(host)]:\(port)" }

    static func check(file: String, host: String, port: Int, key: [UInt8]) -> Verdict {
        guard let bytes = try? FileIO.read(file) else { return .unknown }
        let wanted = pattern(host: host, port: port)
        var sawHost = false
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 3, !line.hasPrefix("#"), !fields[0].hasPrefix("@") else { continue }
            guard fields[0].split(separator: ",").contains(where: { $0 == wanted }) else { continue }
            sawHost = true
            if let blob = Crypto.decodeBase64(fields[2].utf8), Crypto.equal(blob, key) { return .match }
        }
        return sawHost ? .mismatch : .unknown
    }

    static func append(file: String, host: String, port: Int, key: [UInt8], type: git_cert_ssh_raw_type_t) throws {
        let name: String
        switch type {
        case GIT_CERT_SSH_RAW_TYPE_KEY_ED25519: name = "ssh-ed25519"
        case GIT_CERT_SSH_RAW_TYPE_KEY_ECDSA_256: name = "ecdsa-sha2-nistp256"
        case GIT_CERT_SSH_RAW_TYPE_KEY_ECDSA_384: name = "ecdsa-sha2-nistp384"
        case GIT_CERT_SSH_RAW_TYPE_KEY_ECDSA_521: name = "ecdsa-sha2-nistp521"
        case GIT_CERT_SSH_RAW_TYPE_RSA: name = "ssh-rsa"
        default: throw AgentError.internal("unknown host key type")
        }
        try FileIO.makeDirectories(FileIO.dirname(file), mode: 0o700)
        var existing = (try? FileIO.read(file)) ?? []
        if let last = existing.last, last != UInt8(ascii: "\n") { existing.append(UInt8(ascii: "\n")) }
        existing += Array("\(pattern(host: host, port: port)) \(name) \(Crypto.base64(key))\n".utf8)
        try FileIO.writeAtomically(file, bytes: existing, mode: 0o600)
    }
}
