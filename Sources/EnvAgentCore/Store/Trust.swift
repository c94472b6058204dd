/// What decides who can read an environment is authenticated, and each clone pins what it
/// accepted — the way ssh's known_hosts pins a host key and TUF's clients walk a chain of root
/// keys, each vouched for by the one before.
///
/// A format-2 recipients file is signed by the environment's signing key, which only members
/// can derive (from the environment key). A rotation carries an endorsement: the old signing
/// key's signature over the new one. This clone keeps, per environment, the signing key (and
/// members) it last accepted in `TrustPins`; a file is trusted when its signature verifies and
/// its signing key is the pinned one or is reached from it through endorsements. Anything else
/// (a recipient added by a non-member, a replaced key, a deleted or emptied file, a replaced
/// store header) is an `untrusted_change` until this clone's user accepts it (`agent trust`).
enum Trust {
    /// The outcome of checking one environment's recipients file against this clone's pin.
    enum Verdict: Equatable {
        /// Signed by the pinned key, or by one the pinned key vouches for (then `repin`).
        case trusted(repin: Bool)
        /// Not vouched for: what changed, in words, for the error and `agent trust`.
        case untrusted(String)
    }

    /// Checks a signed, well-formed `file` (nil: no recipients file) against `pin`. A merge also
    /// trusts what `anchors` vouch for: the key of the merge base, when this clone's own chain
    /// leads from it to the pin (the other side may still be signed by a key this side rotated
    /// away from meanwhile).
    static func verdict(_ file: RecipientsFile?, pin: TrustPins.Pin?, storeID: String, environment: String,
                        anchors: [[UInt8]] = []) -> Verdict {
        guard let file, !file.recipients.isEmpty else {
            return pin == nil ? .trusted(repin: false) : .untrusted("its recipients file was deleted or emptied")
        }
        guard file.isSigned, let signingKey = file.signingKey else {
            return .untrusted("its recipients file is not signed")
        }
        guard file.hasValidSignature(storeID: storeID, environment: environment), file.publicKey != nil else {
            return .untrusted("its recipients file's signature does not verify: it was edited without the environment key")
        }
        guard let pin else { return .trusted(repin: true) } // first sight: trust on first use
        if Crypto.equal(pin.signingKey, signingKey) {
            return .trusted(repin: !pin.hasSameMembers(as: file))
        }
        guard ([pin.signingKey] + anchors).contains(where: {
            vouches(for: signingKey, from: $0, in: file.endorsements, storeID: storeID, environment: environment)
        }) else {
            return .untrusted("its recipients file is signed by a new environment key that no key this clone accepted vouches for")
        }
        return .trusted(repin: true)
    }

    /// Whether a chain of valid endorsements leads from `anchor` to `key`.
    static func vouches(for key: [UInt8], from anchor: [UInt8], in endorsements: [Endorsement],
                        storeID: String, environment: String) -> Bool {
        var accepted: [[UInt8]] = [anchor]
        var pending = endorsements
        var grew = true
        while grew {
            grew = false
            pending.removeAll { endorsement in
                guard accepted.contains(where: { Crypto.equal($0, endorsement.endorser) }),
                      endorsement.isValid(storeID: storeID, environment: environment) else { return false }
                accepted.append(endorsement.endorsed)
                grew = true
                return true
            }
        }
        return accepted.contains { Crypto.equal($0, key) }
    }

    /// Who was added and removed between the pinned members and `file`'s, in words.
    static func memberChanges(from pin: TrustPins.Pin?, to file: RecipientsFile?) -> (added: [String], removed: [String]) {
        let now = file?.recipients ?? []
        let before = pin?.members ?? []
        func name(_ key: [UInt8], _ label: String?) -> String {
            let text = Operations.shortKey(Identity.publicKeyText(key))
            return label.map { "\($0) (\(text))" } ?? text
        }
        let added = now.filter { r in !before.contains { Crypto.equal($0.publicKey, r.publicKey) } }.map { name($0.publicKey, $0.label) }
        let removed = before.filter { m in !now.contains { Crypto.equal($0.publicKey, m.publicKey) } }.map { name($0.publicKey, $0.label) }
        return (added, removed)
    }
}

/// This clone's record of what it accepted (`<git common dir>/envagent-trust`, never committed):
/// the store id and, per environment, the signing key and members last accepted.
///
/// ```
/// # EnvAgent: what this clone accepted (`agent trust`); not committed
/// store STOREID
/// environment ENV SIGNING-KEY
/// member ENV PUBLIC-KEY [LABEL]
/// ```
struct TrustPins: Equatable {
    struct Pin: Equatable {
        var signingKey: [UInt8]
        var members: [(publicKey: [UInt8], label: String?)]

        static func == (a: Pin, b: Pin) -> Bool {
            a.signingKey == b.signingKey && a.members.count == b.members.count
                && zip(a.members, b.members).allSatisfy { $0.publicKey == $1.publicKey && $0.label == $1.label }
        }

        init(signingKey: [UInt8], members: [(publicKey: [UInt8], label: String?)]) {
            self.signingKey = signingKey
            self.members = members
        }

        init(_ file: RecipientsFile) {
            self.init(signingKey: file.signingKey ?? [], members: file.recipients.map { ($0.publicKey, $0.label) })
        }

        func hasSameMembers(as file: RecipientsFile) -> Bool { self == Pin(file) }
    }

    var storeID: String?
    var environments: [String: Pin] = [:]

    static func path(in repository: GitRepository) -> String { repository.commonDirectory + "envagent-trust" }

    /// The record, empty when there is none yet. A damaged record is an error naming the file:
    /// silently starting over would trust whatever comes next.
    static func load(from path: String) throws -> TrustPins {
        guard FileIO.exists(path) else { return TrustPins() }
        var pins = TrustPins()
        for (number, line) in String(decoding: try FileIO.read(path), as: UTF8.self).split(separator: "\n").enumerated() {
            if line.hasPrefix("#") { continue }
            let fields = line.split(separator: " ").map(String.init)
            let damaged = AgentError(.internalError, "\(path) line \(number + 1) is damaged",
                                     hint: "delete the file and run `agent trust --env ENV` for each environment after checking its members with your team")
            switch (fields.first, fields.count) {
            case ("store", 2):
                pins.storeID = fields[1]
            case ("environment", 3):
                guard let key = Base64.decode(Array(fields[2].utf8)), key.count == Crypto.signingPublicKeyBytes else { throw damaged }
                pins.environments[fields[1], default: Pin(signingKey: [], members: [])].signingKey = key
            case ("member", 3), ("member", 4):
                guard let key = try? Identity.parsePublicKey(fields[2]) else { throw damaged }
                pins.environments[fields[1], default: Pin(signingKey: [], members: [])].members
                    .append((key, fields.count == 4 ? fields[3] : nil))
            default:
                throw damaged
            }
        }
        return pins
    }

    func serialized() -> [UInt8] {
        var text = "# EnvAgent: what this clone accepted (`agent trust`); not committed\n"
        if let storeID { text += "store \(storeID)\n" }
        for environment in environments.keys.sorted() {
            let pin = environments[environment]!
            text += "environment \(environment) \(Crypto.base64(pin.signingKey))\n"
            for member in pin.members {
                text += "member \(environment) \(Identity.publicKeyText(member.publicKey))\(member.label.map { " \($0)" } ?? "")\n"
            }
        }
        return Array(text.utf8)
    }

    /// Reads, changes and writes the record under a lock, so two processes re-pinning at once
    /// cannot put back an older key.
    static func update(at path: String, _ change: (inout TrustPins) throws -> Void) throws {
        try FileIO.withExclusiveLock(path + ".lock") {
            var pins = try load(from: path)
            let before = pins
            try change(&pins)
            if pins != before { try FileIO.writeAtomically(path, bytes: pins.serialized(), mode: 0o600) }
        }
    }
}
