/// Rotation: a fresh environment key, every value re-encrypted under it, the key re-wrapped for
/// the remaining recipients — in one commit, or none.
extension Operations {
    /// Which environments an operation applies to.
    public enum EnvironmentSelection: Sendable, Equatable {
        case one(String)
        case all
    }

    /// Rotation progress: environment, values re-encrypted so far, values in the environment.
    public typealias RotationProgress = (_ environment: String, _ done: Int, _ total: Int) -> Void

    /// What a rotation did.
    public struct RotationResult: Codable, Sendable, Equatable {
        public var environments: [String]
        /// Values re-encrypted, over all environments.
        public var secrets: Int
        public var commit: String?
    }

    /// Rotates the selected environments on demand (after a suspected leak). Members only.
    public func rotate(_ selection: EnvironmentSelection, progress: RotationProgress? = nil) throws -> RotationResult {
        var result = RotationResult(environments: [], secrets: 0, commit: nil)
        let commit = try store.apply { snapshot in
            let environments = try resolve(selection, in: snapshot)
            var change = StoreChange(message: "")
            var count = 0
            for environment in environments {
                let members = try trustedRecipients(environment, in: snapshot).recipients.map { (publicKey: $0.publicKey, label: $0.label) }
                count += try rotated(environment, in: snapshot, members: members, into: &change, progress: progress)
            }
            result = RotationResult(environments: environments, secrets: count, commit: nil)
            change.message = commitMessage(
                "rotate \(environments.joined(separator: ", ")): \(count) secret\(count == 1 ? "" : "s") re-encrypted")
            return change
        }
        result.commit = commit?.hex
        repin(result.environments)
        return result
    }

    /// Builds the rotated files of `environment` into `change`: a new key for `members`, every
    /// value opened with the old key and sealed with the new one (a write-only value sealed to
    /// the new public key, so it stays marked as one), and the old signing key's endorsement of
    /// the new one, so every clone that trusted the old key trusts the new one. Fails, writing
    /// nothing, if any value does not open. Returns the value count.
    func rotated(_ environment: String, in snapshot: StoreSnapshot, members: [(publicKey: [UInt8], label: String?)],
                 into change: inout StoreChange, progress: RotationProgress?) throws -> Int {
        let oldFile = try trustedRecipients(environment, in: snapshot)
        let oldKey = try environmentKey(environment, in: snapshot, file: oldFile)
        let newKey = try EnvironmentKey.generate(storeID: oldKey.storeID, environment: environment)
        let secrets = try snapshot.secrets(environment)
        let total = secrets.lines.count
        let values = try Parallel.map(secrets.lines) { line in
            do {
                return try oldKey.open(line)
            } catch var error as AgentError {
                error.message += "; rotation stopped, nothing was written"
                error.hint = "restore or re-set '\(line.name)' (or delete it), then rotate again"
                throw error
            }
        }
        let writeOnly = Set(secrets.lines.lazy.filter { $0.valueKind == .sealed }.map(\.name))
        let pending = zip(secrets.lines, values).map { line, value in
            SecretsFile.PendingLine(name: line.name, envVar: line.envVar, createdAt: line.createdAt, updatedAt: line.updatedAt,
                                    value: value, sealedValueLength: writeOnly.contains(line.name)
                                        ? EnvironmentPublicKey.sealedLength(valueLength: value.count)
                                        : EnvironmentKey.sealedLength(valueLength: value.count))
        }
        change.streamedFiles[StoreFormat.secretsPath(environment)] = SecretsFile().streamed(
            with: pending, seal: { try writeOnly.contains($1) ? newKey.publicKey.seal($0, name: $1, envVar: $2) : newKey.seal($0, name: $1, envVar: $2) },
            progress: progress.map { report in { done in report(environment, done, total) } }, done: { _ in })
        change.files[StoreFormat.recipientsPath(environment)] = try newKey.recipientsFile(
            for: members, baseFor: oldFile.baseFor, endorsements: oldFile.endorsements + [oldKey.endorsement(of: newKey)]).serialized()
        return total
    }

    /// The environments `selection` names; `not_found` for an unknown one, or when there are none.
    /// An environment whose recipients this clone cannot trust stops it with `untrusted_change`
    /// (a deleted recipients file is not a missing environment).
    func resolve(_ selection: EnvironmentSelection, in snapshot: StoreSnapshot) throws -> [String] {
        _ = try snapshot.requireHeader()
        switch selection {
        case .one(let environment):
            try Validation.environment(environment)
            guard try !trustedRecipients(environment, in: snapshot).recipients.isEmpty else { throw Self.noEnvironment(environment) }
            return [environment]
        case .all:
            let environments = try snapshot.environments().filter { try !trustedRecipients($0, in: snapshot).recipients.isEmpty }
            guard !environments.isEmpty else {
                throw AgentError(.notFound, "the store has no environments yet", hint: "create one with `agent set NAME --env dev`")
            }
            return environments
        }
    }
}
