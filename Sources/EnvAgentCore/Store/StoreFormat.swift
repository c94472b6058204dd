#if canImport(Glibc)
import Glibc
#endif

/// The store's file syntax, and nothing else: paths, the header, the recipients file and the
/// secrets file. See README "Store format" for the specification these constants come from.
public enum StoreFormat {
    /// The newest format this binary reads and writes.
    public static let version = 2
    /// The oldest format this binary reads (only to upgrade it: `agent upgrade`).
    public static let oldestReadable = 1
    public static let folder = ".envagent"
    public static let headerPath = ".envagent/store"
    static let headerMagic = "envagent-store"
    /// Prefix of every value's associated data (domain separation).
    static let associatedDataLabel = "envagent/value/v"
    /// Prefix of a value sealed with the environment key (XChaCha20-Poly1305): members' writes.
    static let aeadValuePrefix = "a:"
    /// Prefix of a value sealed to the environment's public key (sealed box): write-only writes.
    static let sealedValuePrefix = "s:"
    /// Key-derivation label of an environment's sealing key pair (from the environment key).
    static let sealingKeyLabel = "envagent/sealing-key/v1"
    /// Key-derivation label of an environment's signing key pair (from the environment key).
    static let signingKeyLabel = "envagent/signing-key/v1"
    /// Prefix of what a recipients file's signature covers.
    static let recipientsSignatureLabel = "envagent/recipients/v2"
    /// Prefix of what an endorsement signs.
    static let endorsementLabel = "envagent/endorse/v1"
    static let recipientKeyword = "recipient"
    static let publicKeyKeyword = "public-key"
    static let signingKeyKeyword = "signing-key"
    static let endorsementKeyword = "endorsement"
    static let baseForKeyword = "base-for"
    static let signatureKeyword = "signature"

    public static func secretsPath(_ environment: String) -> String { "\(folder)/\(environment)/secrets" }

    /// The store files sync merges itself, key by key (the header and each environment's
    /// recipients and secrets); every other path is left to git's merge.
    static func isMergedByKey(_ path: String) -> Bool {
        if path == headerPath { return true }
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        return parts.count == 3 && parts[0] == folder && (parts[2] == "secrets" || parts[2] == "recipients")
    }
    public static func recipientsPath(_ environment: String) -> String { "\(folder)/\(environment)/recipients" }

    /// Names of files directly in `.envagent/`, which no environment may take (compared
    /// ignoring case: on a case-insensitive file system `Store/` and `store` collide).
    public static let reservedNames = ["store", "targets"]
}

// MARK: - Header

/// `.envagent/store`: `envagent-store`, `format N`, `id STOREID`, one per line.
public struct StoreHeader: Sendable, Equatable {
    public var format: Int
    public var storeID: String

    public init(format: Int = StoreFormat.version, storeID: String) {
        self.format = format
        self.storeID = storeID
    }

    public static func newStoreID() throws -> String {
        Crypto.base64(try Crypto.randomBytes(16), variant: .urlSafeNoPadding)
    }

    public func serialized() -> [UInt8] {
        Array("\(StoreFormat.headerMagic)\nformat \(format)\nid \(storeID)\n".utf8)
    }

    /// Parses a header; a newer format fails `upgrade_required` before anything else is read.
    public static func parse(_ bytes: [UInt8]) throws -> StoreHeader {
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init)
        guard lines.first == StoreFormat.headerMagic else {
            throw AgentError.internal("\(StoreFormat.headerPath) is not an EnvAgent store header")
        }
        var format: Int?
        var storeID: String?
        for line in lines.dropFirst() {
            let parts = line.split(separator: " ", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { continue }
            switch parts[0] {
            // A format number too large for Int is still a newer format, not a broken header.
            case "format": format = Int(parts[1]) ?? (!parts[1].isEmpty && parts[1].utf8.allSatisfy { $0 &- 0x30 < 10 } ? Int.max : nil)
            case "id": storeID = parts[1]
            default: continue // later versions may add keys; `format` guards incompatible ones
            }
        }
        guard let format, let storeID, !storeID.isEmpty else {
            throw AgentError.internal("\(StoreFormat.headerPath) lacks its format or id line")
        }
        guard format <= StoreFormat.version else {
            throw AgentError(.upgradeRequired,
                             "this store uses format \(format == Int.max ? "number too large to read" : "\(format)"); this agent understands format \(StoreFormat.version) at most",
                             hint: "upgrade agent to a release that reads this store's format")
        }
        return StoreHeader(format: format, storeID: storeID)
    }
}

// MARK: - Recipients

/// One member of an environment: a public key and the environment key sealed to it.
public struct Recipient: Sendable, Equatable {
    public var publicKey: [UInt8]
    public var wrappedKey: [UInt8]
    public var label: String?

    public init(publicKey: [UInt8], wrappedKey: [UInt8], label: String?) {
        self.publicKey = publicKey
        self.wrappedKey = wrappedKey
        self.label = label
    }
}

/// A previous environment signing key vouching for the next one (a rotation, or the fresh key
/// of a merge): `endorser`'s signature over `endorsed`, bound to the store and environment.
public struct Endorsement: Sendable, Equatable {
    public var endorser: [UInt8]
    public var endorsed: [UInt8]
    public var signature: [UInt8]

    public init(endorser: [UInt8], endorsed: [UInt8], signature: [UInt8]) {
        self.endorser = endorser
        self.endorsed = endorsed
        self.signature = signature
    }

    /// What the endorser signs: `envagent/endorse/v1 0x00 STOREID 0x00 ENV 0x00 ENDORSED-KEY`.
    static func message(storeID: String, environment: String, endorsed: [UInt8]) -> [UInt8] {
        var message = Array(StoreFormat.endorsementLabel.utf8)
        message.append(0); message += storeID.utf8
        message.append(0); message += environment.utf8
        message.append(0); message += endorsed
        return message
    }

    func isValid(storeID: String, environment: String) -> Bool {
        Crypto.verify(signature, of: Self.message(storeID: storeID, environment: environment, endorsed: endorsed),
                      publicKey: endorser)
    }

    /// Sort key of the serialized line.
    fileprivate var text: String { "\(Crypto.base64(endorser)) \(Crypto.base64(endorsed))" }
}

/// `.envagent/ENV/recipients`: who may read an environment, authenticated by its members.
///
/// Format 2 (see docs/format.md): `signing-key`, `public-key`, `recipient` lines sorted by
/// public key, `base-for` lines (the environments its members let build on it), `endorsement`
/// lines, and last a `signature` by the signing key over every byte before it. A format-1
/// file has neither signing key, endorsements nor signature; it is read only to upgrade it.
public struct RecipientsFile: Sendable, Equatable {
    // Changing any field voids the signature: the file must be signed again (`sign`).
    /// The environment's Ed25519 signing public key (derived from the environment key).
    public var signingKey: [UInt8]? { didSet { unsign() } }
    /// The environment's sealing public key, for write-only writers.
    public var publicKey: [UInt8]? { didSet { unsign() } }
    public var recipients: [Recipient] { didSet { unsign() } }
    /// The environments that may name this one as their base (`agent base`, by a member of
    /// both): this environment's values render into theirs only with its members' signature.
    public var baseFor: [String] { didSet { unsign() } }
    /// The chain of earlier signing keys vouching for later ones.
    public var endorsements: [Endorsement] { didSet { unsign() } }
    /// The signature over `signedBytes`; nil in an unsigned (format 1) file.
    public private(set) var signature: [UInt8]?
    /// Exactly the bytes the signature covers: everything before the `signature` line.
    public private(set) var signedBytes: [UInt8]

    public init(signingKey: [UInt8]? = nil, publicKey: [UInt8]?, recipients: [Recipient], baseFor: [String] = [],
                endorsements: [Endorsement] = []) {
        self.signingKey = signingKey
        self.publicKey = publicKey
        self.recipients = recipients.sorted { Identity.publicKeyText($0.publicKey) < Identity.publicKeyText($1.publicKey) }
        self.baseFor = Set(baseFor).sorted()
        self.endorsements = endorsements.sorted { $0.text < $1.text }
        signature = nil
        signedBytes = []
        signedBytes = body()
    }

    private init(signingKey: [UInt8]?, publicKey: [UInt8]?, recipients: [Recipient], baseFor: [String], endorsements: [Endorsement],
                 signature: [UInt8]?, signedBytes: [UInt8]) {
        self.signingKey = signingKey
        self.publicKey = publicKey
        self.recipients = recipients
        self.baseFor = baseFor
        self.endorsements = endorsements
        self.signature = signature
        self.signedBytes = signedBytes
    }

    private mutating func unsign() {
        signature = nil
        signedBytes = body()
    }

    public var isSigned: Bool { signature != nil }

    /// Whether `signature` is `signingKey`'s over this file, bound to its store and environment.
    public func hasValidSignature(storeID: String, environment: String) -> Bool {
        guard let signature, let signingKey else { return false }
        return Crypto.verify(signature, of: Self.signedMessage(signedBytes, storeID: storeID, environment: environment),
                             publicKey: signingKey)
    }

    /// What the signing key signs: `envagent/recipients/v2 0x00 STOREID 0x00 ENV 0x00` ‖ the file's
    /// bytes before the signature line.
    static func signedMessage(_ bytes: [UInt8], storeID: String, environment: String) -> [UInt8] {
        var message = Array(StoreFormat.recipientsSignatureLabel.utf8)
        message.append(0); message += storeID.utf8
        message.append(0); message += environment.utf8
        message.append(0); message += bytes
        return message
    }

    /// Signs the file as it is now (its fields, serialized) with `secretKey`.
    mutating func sign(storeID: String, environment: String, secretKey: SecretBytes) throws {
        signedBytes = body()
        signature = try Crypto.sign(Self.signedMessage(signedBytes, storeID: storeID, environment: environment), secretKey: secretKey)
    }

    public func member(_ publicKey: [UInt8]) -> Recipient? {
        recipients.first { Crypto.equal($0.publicKey, publicKey) }
    }

    /// Parses a recipients file strictly: any line that is not exactly one of the documented
    /// forms is `internal_error` naming the line. Says nothing about trust (see `Trust`).
    public static func parse(_ bytes: [UInt8], environment: String) throws -> RecipientsFile {
        var signingKey: [UInt8]?, publicKey: [UInt8]?, signature: [UInt8]?, signedBytes = bytes
        var recipients: [Recipient] = [], baseFor: [String] = [], endorsements: [Endorsement] = []
        var signatureLine: Int?
        var offset = 0
        var number = 0
        while offset < bytes.count {
            number += 1
            let end = bytes[offset...].firstIndex(of: UInt8(ascii: "\n")) ?? bytes.count
            let raw = bytes[offset..<end]
            let lineStart = offset
            offset = end + 1
            func malformed(_ why: String) -> AgentError {
                AgentError(.internalError, "\(StoreFormat.recipientsPath(environment)) line \(number) is malformed: \(why)",
                           details: [.init(loc: [environment, "recipients", "line \(number)"], msg: why, type: "malformed_line")],
                           hint: "restore the file from git history (`git log -p -- \(StoreFormat.recipientsPath(environment))`)")
            }
            if signatureLine != nil { throw malformed("nothing may follow the signature line") }
            guard let line = String(validating: raw, as: UTF8.self) else { throw malformed("not UTF-8") }
            if line.isEmpty || line.hasPrefix("#") { continue }
            let fields = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            guard !fields.contains(where: \.isEmpty) else { throw malformed("fields are separated by exactly one space") }
            func key(_ text: String, bytes count: Int) throws -> [UInt8] {
                guard let key = Base64.decode(Array(text.utf8)), key.count == count else {
                    throw malformed("expected base64 of \(count) bytes")
                }
                return key
            }
            switch fields[0] {
            case StoreFormat.signingKeyKeyword:
                guard fields.count == 2, signingKey == nil else { throw malformed("one signing-key line with one key") }
                signingKey = try key(fields[1], bytes: Crypto.signingPublicKeyBytes)
            case StoreFormat.publicKeyKeyword:
                guard fields.count == 2, publicKey == nil, let key = try? Identity.parsePublicKey(fields[1]) else {
                    throw malformed("one public-key line with one public key text")
                }
                publicKey = key
            case StoreFormat.recipientKeyword:
                guard fields.count == 3 || fields.count == 4, let publicKey = try? Identity.parsePublicKey(fields[1]) else {
                    throw malformed("expected recipient PUBLIC-KEY WRAPPED-KEY [LABEL]")
                }
                let wrapped = try key(fields[2], bytes: Crypto.sealBytes + Crypto.aeadKeyBytes)
                if fields.count == 4 {
                    guard (try? Validation.recipientLabel(fields[3])) != nil else { throw malformed("invalid label") }
                }
                guard !recipients.contains(where: { Crypto.equal($0.publicKey, publicKey) }) else {
                    throw malformed("the public key is listed twice")
                }
                recipients.append(Recipient(publicKey: publicKey, wrappedKey: wrapped, label: fields.count == 4 ? fields[3] : nil))
            case StoreFormat.baseForKeyword:
                guard fields.count == 2, Validation.isValidName(fields[1]), !StoreFormat.reservedNames.contains(fields[1].lowercased()),
                      fields[1] != environment
                else { throw malformed("expected base-for ENVIRONMENT (another environment's name)") }
                guard !baseFor.contains(fields[1]) else { throw malformed("'\(fields[1])' is listed twice") }
                baseFor.append(fields[1])
            case StoreFormat.endorsementKeyword:
                guard fields.count == 4 else { throw malformed("expected endorsement ENDORSER ENDORSED SIGNATURE") }
                endorsements.append(Endorsement(endorser: try key(fields[1], bytes: Crypto.signingPublicKeyBytes),
                                                endorsed: try key(fields[2], bytes: Crypto.signingPublicKeyBytes),
                                                signature: try key(fields[3], bytes: Crypto.signatureBytes)))
            case StoreFormat.signatureKeyword:
                guard fields.count == 2 else { throw malformed("expected signature SIGNATURE") }
                signature = try key(fields[1], bytes: Crypto.signatureBytes)
                signedBytes = Array(bytes[..<lineStart])
                signatureLine = number
            default:
                throw malformed("unknown keyword '\(fields[0].prefix(40))'")
            }
        }
        if signature != nil, signingKey == nil {
            throw AgentError.internal("\(StoreFormat.recipientsPath(environment)) is signed but has no signing-key line")
        }
        return RecipientsFile(signingKey: signingKey, publicKey: publicKey, recipients: recipients, baseFor: baseFor,
                              endorsements: endorsements, signature: signature, signedBytes: signedBytes)
    }

    /// The file: `signedBytes` and, when signed, the signature line.
    public func serialized() -> [UInt8] {
        guard let signature else { return signedBytes }
        return signedBytes + Array("\(StoreFormat.signatureKeyword) \(Crypto.base64(signature))\n".utf8)
    }

    /// The lines before the signature, from the fields.
    private func body() -> [UInt8] {
        var text = signingKey == nil
            ? "# EnvAgent recipients: public-key ENVIRONMENT-PUBLIC-KEY, then recipient PUBLIC-KEY SEALED-ENVIRONMENT-KEY [LABEL]\n"
            : "# EnvAgent recipients, signed by the environment's members: edit only with `agent recipients`\n"
        if let signingKey { text += "\(StoreFormat.signingKeyKeyword) \(Crypto.base64(signingKey))\n" }
        if let publicKey { text += "\(StoreFormat.publicKeyKeyword) \(Identity.publicKeyText(publicKey))\n" }
        for recipient in recipients.sorted(by: { Identity.publicKeyText($0.publicKey) < Identity.publicKeyText($1.publicKey) }) {
            text += "\(StoreFormat.recipientKeyword) \(Identity.publicKeyText(recipient.publicKey)) \(Crypto.base64(recipient.wrappedKey))"
            if let label = recipient.label, !label.isEmpty { text += " \(label)" }
            text += "\n"
        }
        for environment in baseFor.sorted() { text += "\(StoreFormat.baseForKeyword) \(environment)\n" }
        for endorsement in endorsements.sorted(by: { $0.text < $1.text }) {
            text += "\(StoreFormat.endorsementKeyword) \(endorsement.text) \(Crypto.base64(endorsement.signature))\n"
        }
        return Array(text.utf8)
    }
}

// MARK: - Secrets

/// One line of a secrets file: `NAME ENV_VAR CREATED UPDATED VALUE`, single spaces, where
/// VALUE is `a:` + base64(nonce ‖ ciphertext ‖ tag) (a member's write) or `s:` + base64(sealed
/// box) (a write-only write). The line is kept as a slice of the file
/// it was read from, so an untouched secret is written back byte for byte and parsing a large
/// file allocates little more than the names.
public struct SecretLine: Sendable, Equatable {
    public let raw: ArraySlice<UInt8>
    public let name: String
    /// Positions of the four separating spaces (absolute indices into `raw`), nil when the line
    /// does not have exactly five non-empty fields.
    private let spaces: (Int, Int, Int, Int)?

    public init(raw: ArraySlice<UInt8>) {
        self.raw = raw
        // Positions of the first four spaces (and whether there is a fifth), found with memchr
        // and without allocating: this runs per line.
        var found = (raw.endIndex, raw.endIndex, raw.endIndex, raw.endIndex)
        var count = 0
        let span = raw.span
        var offset = 0
        while count <= 4, let hit = Bytes.firstIndex(of: UInt8(ascii: " "), in: span, from: offset) {
            let index = raw.startIndex + hit
            switch count {
            case 0: found.0 = index
            case 1: found.1 = index
            case 2: found.2 = index
            case 3: found.3 = index
            default: break
            }
            count += 1
            offset = hit + 1
        }
        name = String(decoding: raw[raw.startIndex..<found.0], as: UTF8.self)
        let (a, b, c, d) = found
        if count == 4, a > raw.startIndex, b > a + 1, c > b + 1, d > c + 1, d + 1 < raw.endIndex {
            spaces = found
        } else {
            spaces = nil
        }
    }

    public init(raw: [UInt8]) { self.init(raw: raw[...]) }

    /// The length of the line these fields make (five fields, four spaces).
    static func length(name: String, envVar: String, createdAt: String, updatedAt: String, sealedValueLength: Int) -> Int {
        name.utf8.count + envVar.utf8.count + createdAt.utf8.count + updatedAt.utf8.count + sealedValueLength + 4
    }

    public init(name: String, envVar: String, createdAt: String, updatedAt: String, sealedValue: String) {
        var raw: [UInt8] = []
        raw.reserveCapacity(Self.length(name: name, envVar: envVar, createdAt: createdAt, updatedAt: updatedAt,
                                        sealedValueLength: sealedValue.utf8.count))
        raw += name.utf8
        raw.append(UInt8(ascii: " "))
        raw += envVar.utf8
        raw.append(UInt8(ascii: " "))
        raw += createdAt.utf8
        raw.append(UInt8(ascii: " "))
        raw += updatedAt.utf8
        raw.append(UInt8(ascii: " "))
        raw += sealedValue.utf8
        self.init(raw: raw)
    }

    public static func == (lhs: SecretLine, rhs: SecretLine) -> Bool { lhs.raw == rhs.raw }

    public var isWellFormed: Bool { spaces != nil }

    private func field(_ index: Int) -> ArraySlice<UInt8>? {
        guard let (a, b, c, d) = spaces else { return nil }
        switch index {
        case 1: return raw[(a + 1)..<b]
        case 2: return raw[(b + 1)..<c]
        case 3: return raw[(c + 1)..<d]
        default: return raw[(d + 1)...]
        }
    }

    private func text(_ index: Int) -> String { field(index).map { String(decoding: $0, as: UTF8.self) } ?? "" }

    public var envVar: String { text(1) }
    /// The env var's bytes, without making a `String` (rendering writes them as they are).
    var envVarBytes: ArraySlice<UInt8> { field(1) ?? [] }
    public var createdAt: String { text(2) }
    public var updatedAt: String { text(3) }
    public var sealedValue: String { text(4) }

    public enum ValueKind: Sendable {
        /// Sealed with the environment key by a member (`a:`).
        case aead
        /// Sealed to the environment's public key by a write-only writer (`s:`).
        case sealed
    }

    /// How the value is sealed, nil when the field has no known prefix.
    /// (Compared byte by byte: this runs for every line a render or a read check touches.)
    public var valueKind: ValueKind? {
        guard let value = field(4), value.count >= 2, value[value.startIndex + 1] == UInt8(ascii: ":") else { return nil }
        switch value[value.startIndex] {
        case UInt8(ascii: "a"): return .aead   // StoreFormat.aeadValuePrefix
        case UInt8(ascii: "s"): return .sealed // StoreFormat.sealedValuePrefix
        default: return nil
        }
    }

    /// The ciphertext bytes after the kind prefix, nil if the field is not valid.
    public var ciphertext: [UInt8]? {
        var bytes: [UInt8] = []
        return ciphertext(into: &bytes) ? bytes : nil
    }

    /// Decodes the ciphertext into `buffer` (reusing its storage); false if the field is not valid.
    func ciphertext(into buffer: inout [UInt8]) -> Bool {
        guard let value = field(4), valueKind != nil else { return false }
        return Base64.decode(value.dropFirst(StoreFormat.aeadValuePrefix.utf8.count), into: &buffer)
    }
}

/// A parsed secrets file: lines sorted by name (bytewise), at most one per name.
public struct SecretsFile: Sendable, Equatable {
    public private(set) var lines: [SecretLine]

    public init(lines: [SecretLine] = []) {
        self.lines = lines.sorted { Self.precedes($0.name, $1.name) }
    }

    /// Bytewise UTF-8 order (`memcmp`), the order of the file.
    static func precedes(_ a: String, _ b: String) -> Bool {
        var a = a, b = b
        return a.withUTF8 { x in
            b.withUTF8 { y in
                let common = min(x.count, y.count)
                let order = common == 0 ? 0 : memcmp(x.baseAddress!, y.baseAddress!, common)
                return order != 0 ? order < 0 : x.count < y.count
            }
        }
    }

    public static func parse(_ bytes: [UInt8]) -> SecretsFile {
        let lines = lines(in: bytes)
        // Written sorted; re-sort only when a hand edit broke the order.
        return isSorted(lines) ? SecretsFile(presorted: lines) : SecretsFile(lines: lines)
    }

    /// The non-empty lines of `bytes`, in file order.
    static func lines(in bytes: [UInt8]) -> [SecretLine] {
        var lines: [SecretLine] = []
        lines.reserveCapacity(bytes.count / 96)
        var start = 0
        let span = bytes.span
        while let end = Bytes.firstIndex(of: UInt8(ascii: "\n"), in: span, from: start) {
            if end > start { lines.append(SecretLine(raw: bytes[start..<end])) }
            start = end + 1
        }
        if start < bytes.count { lines.append(SecretLine(raw: bytes[start...])) }
        return lines
    }

    static func isSorted(_ lines: some Collection<SecretLine>) -> Bool {
        zip(lines, lines.dropFirst()).allSatisfy { precedes($0.name, $1.name) }
    }

    private init(presorted: [SecretLine]) { lines = presorted }

    public func serialized() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(lines.reduce(0) { $0 + $1.raw.count + 1 })
        for line in lines {
            out.append(contentsOf: line.raw)
            out.append(UInt8(ascii: "\n"))
        }
        return out
    }

    private func position(of name: String) -> (index: Int, found: Bool) {
        var low = 0, high = lines.count
        while low < high {
            let mid = (low + high) / 2
            if Self.precedes(lines[mid].name, name) { low = mid + 1 } else { high = mid }
        }
        return (low, low < lines.count && lines[low].name == name)
    }

    public func line(named name: String) -> SecretLine? {
        let (index, found) = position(of: name)
        return found ? lines[index] : nil
    }

    @discardableResult
    public mutating func remove(named name: String) -> SecretLine? {
        let (index, found) = position(of: name)
        return found ? lines.remove(at: index) : nil
    }
}
