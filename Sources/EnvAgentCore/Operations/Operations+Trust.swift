/// Authenticated membership (see `Trust`): every read and write of an environment goes through
/// `trustedRecipients`; `trust` shows and accepts a change this clone could not verify;
/// `upgrade` signs the recipients files of a format-1 store.
extension Operations {
    /// The recipients file of `environment` at `snapshot`, once this clone trusts it: signed by
    /// the environment's signing key, which is the pinned one or vouched for by it (then the pin
    /// moves on, unless `pinning` is off). Empty when the environment does not exist. Throws
    /// `untrusted_change` naming the commit and what changed, and `upgrade_required` for a
    /// format-1 store or a recipients file no member has signed yet.
    func trustedRecipients(_ environment: String, in snapshot: StoreSnapshot, pinning: Bool = true,
                           anchors: [[UInt8]] = []) throws -> RecipientsFile {
        let header = try snapshot.requireHeader()
        guard header.format >= 2 else { throw Self.formatOneStore(header.format) }
        let pinsPath = TrustPins.path(in: store.repository)
        let pins = try TrustPins.load(from: pinsPath)
        let pin = pins.environments[environment]
        if let accepted = pins.storeID, accepted != header.storeID {
            throw untrustedChange(environment, "the store header was replaced (store id \(header.storeID); this clone accepted \(accepted))",
                                  file: nil, pin: nil, in: snapshot, path: StoreFormat.headerPath)
        }
        let file: RecipientsFile?
        do {
            file = try snapshot.file(StoreFormat.recipientsPath(environment)).map { try RecipientsFile.parse($0, environment: environment) }
        } catch let error as AgentError where error.kind == .internalError {
            // Members only write well-formed files: a malformed one is someone else's edit.
            throw untrustedChange(environment, "its recipients file is malformed (\(error.message))", file: nil, pin: pin,
                                  in: snapshot, path: StoreFormat.recipientsPath(environment))
        }
        if let file, !file.recipients.isEmpty, !file.isSigned, pin == nil {
            throw AgentError(.upgradeRequired, "the recipients of environment '\(environment)' are not signed yet (a format-1 file)",
                             details: [.init(loc: [environment, "recipients"], msg: "not signed", type: "unsigned_recipients")],
                             hint: "a member of '\(environment)' runs `agent upgrade`")
        }
        if file?.recipients.isEmpty ?? true, pin == nil, !(try snapshot.file(StoreFormat.secretsPath(environment)) ?? []).isEmpty {
            throw untrustedChange(environment, "it has secrets but no recipients file", file: file, pin: nil, in: snapshot,
                                  path: StoreFormat.recipientsPath(environment))
        }
        switch Trust.verdict(file, pin: pin, storeID: header.storeID, environment: environment, anchors: anchors) {
        case .untrusted(let what):
            throw untrustedChange(environment, what, file: file, pin: pin, in: snapshot, path: StoreFormat.recipientsPath(environment))
        case .trusted(let repin):
            if pinning, repin || pins.storeID == nil, let file, !file.recipients.isEmpty {
                // Best effort (a read-only .git still reads), and only from the pin this verdict
                // was checked against: another process may have moved it on meanwhile.
                try? TrustPins.update(at: pinsPath) { pins in
                    guard pins.environments[environment] == pin, pins.storeID ?? header.storeID == header.storeID else { return }
                    pins.storeID = header.storeID
                    pins.environments[environment] = TrustPins.Pin(file)
                }
            }
        }
        return file ?? RecipientsFile(publicKey: nil, recipients: [])
    }

    /// Pins the recipients this clone just wrote or merged itself (`environments`, all when nil),
    /// so a later change is compared with them and not with an older member list. Best effort:
    /// an environment this clone does not trust stays as it is (its next read says why).
    func repin(_ environments: [String]? = nil) {
        guard let snapshot = try? store.snapshot(), let all = try? environments ?? snapshot.environments() else { return }
        for environment in all { _ = try? trustedRecipients(environment, in: snapshot) }
    }

    /// Checks the recipients files of `incoming` (another clone's commit, before it is merged)
    /// that differ from `current`'s against this clone's pins, pinning nothing. Throws
    /// `untrusted_change`. A format-1 side is not checked: its files are never trusted as such
    /// (reads of a format-1 store need `agent upgrade`).
    ///
    /// With the merge `base`, a file signed by the base's key (or a key it vouches for) is
    /// trusted when `current`'s chain leads from that key to this clone's pin: the other clone
    /// changed the recipients while this one rotated. A key older than the base, or one this
    /// clone's chain does not pass through, is not.
    func checkIncoming(_ incoming: StoreSnapshot, against current: StoreSnapshot, base: StoreSnapshot? = nil) throws {
        guard let header = try incoming.header(), header.format >= 2 else { return }
        let pins = try TrustPins.load(from: TrustPins.path(in: store.repository))
        for environment in try incoming.environments() {
            let path = StoreFormat.recipientsPath(environment)
            if try incoming.fileID(path) == current.fileID(path) { continue }
            var anchors: [[UInt8]] = []
            if let pin = pins.environments[environment],
               let baseFile = try? base?.file(path).map({ try RecipientsFile.parse($0, environment: environment) }),
               let baseKey = baseFile.signingKey, baseFile.hasValidSignature(storeID: header.storeID, environment: environment),
               let ours = try? current.file(path).map({ try RecipientsFile.parse($0, environment: environment) }),
               Trust.vouches(for: pin.signingKey, from: baseKey, in: ours.endorsements, storeID: header.storeID, environment: environment) {
                anchors.append(baseKey)
            }
            _ = try trustedRecipients(environment, in: incoming, pinning: false, anchors: anchors)
        }
    }

    static func formatOneStore(_ format: Int) -> AgentError {
        AgentError(.upgradeRequired, "this store uses format \(format), whose recipients files are not authenticated",
                   details: [.init(loc: [StoreFormat.headerPath], msg: "format \(format)", type: "old_format")],
                   hint: "a member runs `agent upgrade` once (each environment's members sign their environments)")
    }

    private func untrustedChange(_ environment: String, _ what: String, file: RecipientsFile?, pin: TrustPins.Pin?,
                                 in snapshot: StoreSnapshot, path: String) -> AgentError {
        let commit = try? lastChange(of: path, line: nil, from: snapshot.commit)
        let when = commit.map { " in commit \($0.id.hex.prefix(12)) by \($0.authorName) <\($0.authorEmail)> at \(Timestamp.format($0.time))" } ?? ""
        let (added, removed) = Trust.memberChanges(from: pin, to: file)
        var changes = ""
        if !added.isEmpty { changes += "; recipients added: \(added.joined(separator: ", "))" }
        if !removed.isEmpty { changes += "; recipients removed: \(removed.joined(separator: ", "))" }
        return AgentError(.untrustedChange,
                          "environment '\(environment)' changed without a member's signature\(when): \(what)\(changes). Nothing was read or written.",
                          details: [.init(loc: [environment, "recipients"], msg: what, type: "untrusted_change")],
                          hint: "check with your team: if the change is theirs, `agent trust --env \(environment)` shows it and accepts it; if not, revert it (`git revert \(commit.map { String($0.id.hex.prefix(12)) } ?? "COMMIT")`) and push")
    }

    // MARK: agent trust

    /// What `agent trust` shows: this clone's pin against the environment's recipients file.
    public struct TrustReport: Codable, Sendable, Equatable {
        public var environment: String
        /// `trusted`, `changed` (not vouched for), or `new` (not seen by this clone yet).
        public var status: String
        /// What changed, in words (nil when trusted).
        public var change: String?
        public var signingKey: String?
        public var acceptedSigningKey: String?
        public var added: [String]
        public var removed: [String]
        public var commit: String?
        public var author: String?
        public var date: String?
        /// Whether this call recorded the current file as accepted.
        public var accepted: Bool

        enum CodingKeys: String, CodingKey {
            case environment, status, change
            case signingKey = "signing_key"
            case acceptedSigningKey = "accepted_signing_key"
            case added, removed, commit, author, date, accepted
        }
    }

    /// Compares the environment's recipients file with what this clone accepted; with `accept`,
    /// records the current file as accepted (after its user checked the change with the team).
    /// Only a validly signed file (or a deleted environment) can be accepted: an unsigned or
    /// forged file has no key to pin and must be reverted.
    public func trust(_ environment: String, accept: Bool) throws -> TrustReport {
        try Validation.environment(environment)
        let snapshot = try store.snapshot()
        let header = try snapshot.requireHeader()
        guard header.format >= 2 else { throw Self.formatOneStore(header.format) }
        let pinsPath = TrustPins.path(in: store.repository)
        let pins = try TrustPins.load(from: pinsPath)
        let storeReplaced = pins.storeID.map { $0 != header.storeID } ?? false
        let pin = storeReplaced ? nil : pins.environments[environment]
        let file = try snapshot.file(StoreFormat.recipientsPath(environment)).map { try RecipientsFile.parse($0, environment: environment) }
        let verdict = storeReplaced
            ? .untrusted("the store header was replaced (store id \(header.storeID); this clone accepted \(pins.storeID!))")
            : Trust.verdict(file, pin: pin, storeID: header.storeID, environment: environment)
        guard file != nil || pin != nil || storeReplaced else { throw Self.noEnvironment(environment) }
        let (added, removed) = Trust.memberChanges(from: pin, to: file)
        let commit = try? lastChange(of: StoreFormat.recipientsPath(environment), line: nil)
        var report = TrustReport(environment: environment, status: "trusted", change: nil,
                                 signingKey: file?.signingKey.map { Crypto.base64($0) },
                                 acceptedSigningKey: pin.map { Crypto.base64($0.signingKey) },
                                 added: pin == nil ? [] : added, removed: removed,
                                 commit: commit?.id.hex, author: commit.map { "\($0.authorName) <\($0.authorEmail)>" },
                                 date: commit.map { Timestamp.format($0.time) }, accepted: false)
        switch verdict {
        case .trusted: report.status = pin == nil ? "new" : "trusted"
        case .untrusted(let what): report.status = "changed"; report.change = what
        }
        guard accept, report.status != "trusted" else { return report }
        let deleted = file?.recipients.isEmpty ?? true
        if !deleted {
            guard let file, file.hasValidSignature(storeID: header.storeID, environment: environment) else {
                throw AgentError(.untrustedChange, "the recipients file of environment '\(environment)' is not validly signed, so there is no key to accept",
                                 details: [.init(loc: [environment, "recipients"], msg: "not validly signed", type: "untrusted_change")],
                                 hint: "restore it: revert the commit that changed it (`git revert \(commit.map { String($0.id.hex.prefix(12)) } ?? "COMMIT")`)")
            }
        }
        try TrustPins.update(at: pinsPath) { pins in
            if storeReplaced { pins.environments = [:] }
            pins.storeID = header.storeID
            pins.environments[environment] = deleted ? nil : TrustPins.Pin(file!)
        }
        report.accepted = true
        return report
    }

    // MARK: agent upgrade

    /// What `agent upgrade` did.
    public struct UpgradeResult: Codable, Sendable, Equatable {
        /// Environments signed (and re-encrypted under a fresh key) by this upgrade.
        public var environments: [String]
        /// Environments still unsigned: this identity is not a member; one of theirs runs upgrade.
        public var remaining: [String]
        public var secrets: Int
        public var commit: String?
    }

    /// Moves a format-1 store to format 2: each environment this identity is a member of gets a
    /// fresh key, every value re-encrypted with the format-2 associated data (write-only values
    /// stay write-only), and a signed recipients file for the same members, in one commit that
    /// also sets `format 2`. Environments of other members stay unreadable (`upgrade_required`)
    /// until one of their members runs it too.
    public func upgrade() throws -> UpgradeResult {
        let identity = try identity()
        var result = UpgradeResult(environments: [], remaining: [], secrets: 0, commit: nil)
        let commit = try store.apply { snapshot in
            result = UpgradeResult(environments: [], remaining: [], secrets: 0, commit: nil)
            var header = try snapshot.requireHeader()
            var files: [String: [UInt8]?] = [:]
            let pins = try TrustPins.load(from: TrustPins.path(in: store.repository))
            for environment in try snapshot.environments() {
                guard let bytes = try snapshot.file(StoreFormat.recipientsPath(environment)) else { continue }
                let file = try RecipientsFile.parse(bytes, environment: environment)
                guard !file.recipients.isEmpty, !file.isSigned else { continue }
                if pins.environments[environment] != nil {
                    _ = try trustedRecipients(environment, in: snapshot, pinning: false) // throws: a pinned file lost its signature
                }
                guard file.member(identity.publicKey) != nil else { result.remaining.append(environment); continue }
                let old = try EnvironmentKey.unwrap(from: file.recipients, identity: identity, storeID: header.storeID,
                                                    environment: environment, format: 1)
                let new = try EnvironmentKey.generate(storeID: header.storeID, environment: environment)
                let lines = try snapshot.secrets(environment).lines.map { line in
                    let value = try old.open(line)
                    let sealed = line.valueKind == .sealed
                        ? try new.publicKey.seal(value, name: line.name, envVar: line.envVar)
                        : try new.seal(value, name: line.name, envVar: line.envVar)
                    return SecretLine(name: line.name, envVar: line.envVar, createdAt: line.createdAt, updatedAt: line.updatedAt,
                                      sealedValue: sealed)
                }
                files[StoreFormat.secretsPath(environment)] = SecretsFile(lines: lines).serialized()
                files[StoreFormat.recipientsPath(environment)] = try new.recipientsFile(
                    for: file.recipients.map { ($0.publicKey, $0.label) }).serialized()
                result.environments.append(environment)
                result.secrets += lines.count
            }
            if header.format < StoreFormat.version {
                header.format = StoreFormat.version
                files[StoreFormat.headerPath] = header.serialized()
            }
            guard !files.isEmpty else { return nil }
            let names = result.environments.isEmpty ? "" : " (\(result.environments.joined(separator: ", ")))"
            return StoreChange(files: files, message: commitMessage(
                "upgrade store to format \(StoreFormat.version)\(names): \(result.secrets) secret\(result.secrets == 1 ? "" : "s") re-encrypted, recipients signed"))
        }
        guard commit != nil || !result.remaining.isEmpty else {
            throw AgentError(.alreadyExists, "the store is already at format \(StoreFormat.version) and every environment is signed")
        }
        result.commit = commit?.hex
        repin(result.environments) // this clone accepted what it signed by writing it
        return result
    }
}
