#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The store's file syntax, and nothing else: paths, the header, the recipients file and the
/// secrets file. See README "Store format" for the specification these constants come from.
public enum StoreFormat {
    /// The newest format this binary reads and writes.
    public static let version = 1
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
    static let recipientKeyword = "recipient"
    static let publicKeyKeyword = "public-key"

    public static func secretsPath(_ environment: String) -> String { "\(folder)/\(environment)/secrets" }

    /// The store files sync merges itself, key by key (the header and each environment's
    /// recipients and secrets); every other path is left to git's merge.
    static func isMergedByKey(_ path: String) -> Bool {
        if path == headerPath { return true }
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        return parts.count == 3 && parts[0] == folder && (parts[2] == "secrets" || parts[2] == "recipients")
    }
    public static func recipientsPath(_ environment: String) -> String { "\(folder)/\(environment)/recipients" }
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
            case "format": format = Int(parts[1])
            case "id": storeID = parts[1]
            default: continue // later versions may add keys; `format` guards incompatible ones
            }
        }
        guard let format, let storeID, !storeID.isEmpty else {
            throw AgentError.internal("\(StoreFormat.headerPath) lacks its format or id line")
        }
        guard format <= StoreFormat.version else {
            throw AgentError(.upgradeRequired,
                             "this store uses format \(format); this agent understands format \(StoreFormat.version) at most",
                             hint: "upgrade agent to a release that reads store format \(format)")
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

/// `.envagent/ENV/recipients`: who may read an environment. One `public-key PUBKEY` line (the
/// environment's sealing public key, for write-only writers) and `recipient PUBKEY WRAPPED [LABEL]`
/// lines sorted by public key; `#` lines are comments.
public struct RecipientsFile: Sendable, Equatable {
    /// The environment's sealing public key; nil in a file written before write-only support.
    public var publicKey: [UInt8]?
    public var recipients: [Recipient]

    public init(publicKey: [UInt8]?, recipients: [Recipient]) {
        self.publicKey = publicKey
        self.recipients = recipients
    }

    public static func parse(_ bytes: [UInt8], environment: String) throws -> RecipientsFile {
        var file = RecipientsFile(publicKey: nil, recipients: [])
        for (number, raw) in String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingWhitespace()
            if line.isEmpty || line.hasPrefix("#") { continue }
            let fields = line.split(separator: " ", maxSplits: 3).map(String.init)
            let malformed = AgentError.internal("\(StoreFormat.recipientsPath(environment)) line \(number + 1) is malformed")
            switch fields.first {
            case StoreFormat.publicKeyKeyword:
                guard fields.count == 2, file.publicKey == nil, let key = try? Identity.parsePublicKey(fields[1]) else { throw malformed }
                file.publicKey = key
            case StoreFormat.recipientKeyword:
                guard fields.count >= 3, let publicKey = try? Identity.parsePublicKey(fields[1]),
                      let wrapped = Base64.decode(Array(fields[2].utf8))
                else { throw malformed }
                file.recipients.append(Recipient(publicKey: publicKey, wrappedKey: wrapped, label: fields.count > 3 ? fields[3] : nil))
            default:
                throw malformed
            }
        }
        return file
    }

    public func serialized() -> [UInt8] {
        var text = "# EnvAgent recipients: public-key ENVIRONMENT-PUBLIC-KEY, then recipient PUBLIC-KEY SEALED-ENVIRONMENT-KEY [LABEL]\n"
        if let publicKey { text += "\(StoreFormat.publicKeyKeyword) \(Identity.publicKeyText(publicKey))\n" }
        for recipient in recipients.sorted(by: { Identity.publicKeyText($0.publicKey) < Identity.publicKeyText($1.publicKey) }) {
            text += "\(StoreFormat.recipientKeyword) \(Identity.publicKeyText(recipient.publicKey)) \(Crypto.base64(recipient.wrappedKey))"
            if let label = recipient.label, !label.isEmpty { text += " \(label)" }
            text += "\n"
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
        raw.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            var offset = 0
            while count <= 4, offset < buffer.count,
                  let hit = memchr(base + offset, Int32(UInt8(ascii: " ")), buffer.count - offset) {
                offset = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
                let index = raw.startIndex + offset
                switch count {
                case 0: found.0 = index
                case 1: found.1 = index
                case 2: found.2 = index
                case 3: found.3 = index
                default: break
                }
                count += 1
                offset += 1
            }
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
    public var valueKind: ValueKind? {
        guard let value = field(4) else { return nil }
        if value.starts(with: StoreFormat.aeadValuePrefix.utf8) { return .aead }
        if value.starts(with: StoreFormat.sealedValuePrefix.utf8) { return .sealed }
        return nil
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
        bytes.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            while start < buffer.count, let hit = memchr(base + start, Int32(UInt8(ascii: "\n")), buffer.count - start) {
                let end = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
                if end > start { lines.append(SecretLine(raw: bytes[start..<end])) }
                start = end + 1
            }
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
