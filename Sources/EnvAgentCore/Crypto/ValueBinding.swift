/// The value format: the associated data that binds a sealed value to its store, environment,
/// name and env var, and the digest that binds a write-only value (docs/format.md).
/// What ties a value to its place in the store, for both value kinds.
enum ValueBinding {
    static let digestBytes = 32

    /// `envagent/value/v<format> 0x00 STOREID 0x00 ENVIRONMENT 0x00`.
    static func associatedDataPrefix(storeID: String, environment: String, format: Int = StoreFormat.version) -> [UInt8] {
        var prefix = Array("\(StoreFormat.associatedDataLabel)\(format)".utf8)
        prefix.append(0); prefix += storeID.utf8
        prefix.append(0); prefix += environment.utf8
        prefix.append(0)
        return prefix
    }

    /// The prefix, NAME, and (from format 2 on) 0x00 ENV_VAR.
    static func associatedData(_ prefix: [UInt8], name: String, envVar: String, format: Int = StoreFormat.version) -> [UInt8] {
        var ad = [UInt8]()
        ad.reserveCapacity(prefix.count + name.utf8.count + 1 + envVar.utf8.count)
        ad += prefix
        ad += name.utf8
        if format >= 2 {
            ad.append(0)
            ad += envVar.utf8
        }
        return ad
    }

    /// BLAKE2b(AD) ‖ value, the plaintext of a sealed (write-only) value.
    static func bind(_ value: SecretBytes, associatedData: [UInt8]) throws -> SecretBytes {
        let bound = SecretBytes(count: digestBytes + value.count)
        let digest = try Crypto.hash(associatedData, length: digestBytes)
        bound.withUnsafeMutableBytes { out in
            out.copyBytes(from: digest)
            value.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: out[digestBytes...]).copyMemory(from: $0) }
        }
        return bound
    }

    /// The value inside `bound`, nil when its digest is not that of `associatedData`.
    static func unbind(_ bound: SecretBytes, associatedData: [UInt8]) throws -> SecretBytes? {
        guard bound.count >= digestBytes else { return nil }
        let digest = try Crypto.hash(associatedData, length: digestBytes)
        guard bound.extracting(0..<digestBytes).matches(digest) else { return nil }
        return bound.extracting(digestBytes..<bound.count)
    }

    static func unreadable(_ line: SecretLine, _ environment: String, _ problem: String) -> AgentError {
        AgentError(.internalError, "secret '\(line.name)' in environment '\(environment)' \(problem)",
                   details: [.init(loc: [environment, line.name], msg: problem, type: "bad_ciphertext")],
                   hint: "`agent verify --env \(environment)` lists every bad line; restore it from git history or set the value again")
    }
}
