/// Granting and revoking access to environments. Adding wraps the environment key for the new
/// public key; removing rotates the key and re-encrypts every value, so the removed identity
/// cannot open anything written from then on.
extension Operations {
    /// One recipient as listed (public information: anyone with the repository may list).
    public struct RecipientInfo: Codable, Sendable, Equatable {
        public var publicKey: String
        public var label: String?
        /// True for the current identity.
        public var you: Bool

        enum CodingKeys: String, CodingKey {
            case publicKey = "public_key"
            case label, you
        }
    }

    /// An environment's recipients and the public key write-only writers seal to.
    public struct EnvironmentRecipients: Codable, Sendable, Equatable {
        public var environment: String
        public var publicKey: String?
        /// The signing key that authenticates the recipients file: compare it with a teammate's
        /// to rule out a first sight that was already tampered with.
        public var signingKey: String?
        public var recipients: [RecipientInfo]

        enum CodingKeys: String, CodingKey {
            case environment
            case publicKey = "public_key"
            case signingKey = "signing_key"
            case recipients
        }
    }

    /// What an add or remove did.
    public struct RecipientChange: Codable, Sendable, Equatable {
        public var publicKey: String
        public var label: String?
        /// Environments changed (for a removal: rotated).
        public var environments: [String]
        /// Values re-encrypted by the rotation (0 for an add).
        public var rotatedSecrets: Int
        public var commit: String?

        enum CodingKeys: String, CodingKey {
            case publicKey = "public_key"
            case label, environments
            case rotatedSecrets = "rotated_secrets"
            case commit
        }
    }

    public func recipients(_ selection: EnvironmentSelection) throws -> [EnvironmentRecipients] {
        let snapshot = try store.snapshot()
        let me = try? identitySource.publicKey()
        return try resolve(selection, in: snapshot).map { environment in
            let file = try snapshot.recipientsFile(environment)
            return EnvironmentRecipients(
                environment: environment, publicKey: file.publicKey.map(Identity.publicKeyText),
                signingKey: file.signingKey.map { Crypto.base64($0) },
                recipients: file.recipients.map { recipient in
                    RecipientInfo(publicKey: Identity.publicKeyText(recipient.publicKey), label: recipient.label,
                                  you: me.map { Crypto.equal($0, recipient.publicKey) } ?? false)
                })
        }
    }

    /// Grants `publicKeyText` access (one commit). Members only. Re-adding a recipient with a new
    /// label relabels it; re-adding it unchanged everywhere fails `already_exists`.
    public func addRecipient(_ publicKeyText: String, label: String?, _ selection: EnvironmentSelection) throws -> RecipientChange {
        let publicKey = try Self.recipientKey(publicKeyText)
        if let label { try Validation.recipientLabel(label) }
        var changed: [String] = []
        let commit = try store.apply { snapshot in
            changed = []
            var files: [String: [UInt8]?] = [:]
            for environment in try resolve(selection, in: snapshot) {
                var file = try trustedRecipients(environment, in: snapshot)
                let key = try environmentKey(environment, in: snapshot, file: file)
                if let label, let owner = file.recipients.first(where: { $0.label == label && !Crypto.equal($0.publicKey, publicKey) }) {
                    throw AgentError.validation("label", "'\(label)' already names \(Identity.publicKeyText(owner.publicKey)) in environment '\(environment)'",
                                                type: "duplicate_label", hint: "pick another --name")
                }
                if let index = file.recipients.firstIndex(where: { Crypto.equal($0.publicKey, publicKey) }) {
                    guard let label, file.recipients[index].label != label else { continue }
                    file.recipients[index].label = label
                } else {
                    file.recipients.append(try key.wrapped(for: publicKey, label: label))
                }
                files[StoreFormat.recipientsPath(environment)] = try key.signed(file).serialized()
                changed.append(environment)
            }
            guard !changed.isEmpty else {
                throw AgentError(.alreadyExists, "\(label ?? publicKeyText) is already a recipient of \(Self.describe(selection))",
                                 details: [.init(loc: ["public_key"], msg: "already a recipient", type: "already_exists")])
            }
            return StoreChange(files: files, message: commitMessage(
                "recipient-add \(label ?? Self.shortKey(publicKeyText)) (\(changed.joined(separator: ", ")))"))
        }
        repin(changed)
        return RecipientChange(publicKey: Identity.publicKeyText(publicKey), label: label, environments: changed,
                               rotatedSecrets: 0, commit: commit?.hex)
    }

    /// Revokes a recipient (by public key or label) and rotates every environment it leaves, in
    /// one commit. Members only. Removing an environment's last recipient is refused.
    public func removeRecipient(_ keyOrLabel: String, _ selection: EnvironmentSelection,
                                progress: RotationProgress? = nil) throws -> RecipientChange {
        let byKey = keyOrLabel.hasPrefix(Identity.publicKeyPrefix) ? try Self.recipientKey(keyOrLabel) : nil
        var result = RecipientChange(publicKey: "", label: nil, environments: [], rotatedSecrets: 0, commit: nil)
        let commit = try store.apply { snapshot in
            result = RecipientChange(publicKey: "", label: nil, environments: [], rotatedSecrets: 0, commit: nil)
            var change = StoreChange(message: "")
            for environment in try resolve(selection, in: snapshot) {
                let recipients = try trustedRecipients(environment, in: snapshot).recipients
                let matches = recipients.filter { recipient in
                    byKey.map { Crypto.equal($0, recipient.publicKey) } ?? (recipient.label == keyOrLabel)
                }
                guard let removed = matches.first else { continue }
                if matches.count > 1 {
                    throw AgentError.validation("recipient", "label '\(keyOrLabel)' names \(matches.count) recipients of environment '\(environment)'",
                                                type: "ambiguous_label", hint: "remove by public key instead (see `agent recipients list`)")
                }
                let remaining = recipients.filter { !Crypto.equal($0.publicKey, removed.publicKey) }
                guard !remaining.isEmpty else {
                    throw AgentError.validation("recipient", "\(removed.label ?? keyOrLabel) is the last recipient of environment '\(environment)'; removing it would lock everyone out",
                                                type: "last_recipient", hint: "add another recipient first")
                }
                result.publicKey = Identity.publicKeyText(removed.publicKey)
                result.label = removed.label
                result.environments.append(environment)
                result.rotatedSecrets += try rotated(environment, in: snapshot,
                                                     members: remaining.map { ($0.publicKey, $0.label) },
                                                     into: &change, progress: progress)
            }
            guard !result.environments.isEmpty else {
                throw AgentError(.notFound, "\(keyOrLabel) is not a recipient of \(Self.describe(selection))",
                                 details: [.init(loc: ["recipient"], msg: "no such recipient", type: "not_found")],
                                 hint: "see `agent recipients list`")
            }
            change.message = commitMessage(
                "recipient-remove \(result.label ?? Self.shortKey(result.publicKey)) (\(result.environments.joined(separator: ", "))): "
                + "rotated, \(result.rotatedSecrets) secret\(result.rotatedSecrets == 1 ? "" : "s") re-encrypted")
            return change
        }
        result.commit = commit?.hex
        repin(result.environments)
        return result
    }

    private static func recipientKey(_ text: String) throws -> [UInt8] {
        do {
            return try Identity.parsePublicKey(text)
        } catch let error as AgentError {
            throw AgentError(.validationError, error.message,
                             details: [.init(loc: ["public_key"], msg: error.message, type: "invalid_key")],
                             hint: "ask the new member for the output of `agent whoami`")
        }
    }

    static func shortKey(_ text: String) -> String { String(text.prefix(Identity.publicKeyPrefix.count + 8)) + "…" }

    private static func describe(_ selection: EnvironmentSelection) -> String {
        switch selection {
        case .one(let environment): "environment '\(environment)'"
        case .all: "any environment"
        }
    }
}
