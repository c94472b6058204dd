/// `adopt`: a member takes write-only values as members' values. Anyone who can push may have
/// sealed a write-only value, so listings mark it until a member who has checked it re-seals
/// it with the environment key (`a:`). Nothing else converts one: not a member's other
/// writes, not a rotation, not a merge.
extension Operations {
    public struct AdoptResult: Codable, Sendable, Equatable {
        public var environment: String
        /// The secrets adopted, in the order named (by name for all).
        public var adopted: [String]
        /// nil when nothing was write-only (no commit).
        public var commit: String?
    }

    /// Adopts the named write-only values of `environment` in one commit (members only). A
    /// name that does not exist is `not_found`; one that is not write-only is
    /// `validation_error` (`not_write_only`), and nothing is written.
    public func adopt(names: [String], environment: String) throws -> AdoptResult {
        guard !names.isEmpty else {
            throw AgentError(.invalidRequest, "name the write-only secrets to adopt", hint: "or adopt every one of them with --all")
        }
        for name in names { try Validation.name(name) }
        var unique: [String] = []
        for name in names where !unique.contains(name) { unique.append(name) }
        return try adopt(environment) { secrets in
            try unique.map { name in
                guard let line = secrets.line(named: name) else { throw Self.noSecret(name, environment) }
                guard line.valueKind == .sealed else {
                    throw AgentError(.validationError, "secret '\(name)' in environment '\(environment)' is not write-only: a member wrote its value",
                                     details: [.init(loc: ["name"], msg: "not a write-only value", type: "not_write_only")],
                                     hint: "`agent list --env \(environment)` marks the write-only values")
                }
                return line
            }
        }
    }

    /// Adopts every write-only value of `environment` in one commit (members only); none is
    /// no commit.
    public func adoptAll(environment: String) throws -> AdoptResult {
        try adopt(environment) { secrets in secrets.lines.filter { $0.valueKind == .sealed } }
    }

    /// Re-seals the lines `select` picks as members' values, keeping their env vars and times
    /// (the value does not change).
    private func adopt(_ environment: String, selecting select: (SecretsFile) throws -> [SecretLine]) throws -> AdoptResult {
        try Validation.environment(environment)
        var result = AdoptResult(environment: environment, adopted: [], commit: nil)
        let commit = try store.apply { snapshot in
            let key = try environmentKey(environment, in: snapshot)
            let secrets = try snapshot.secrets(environment)
            let lines = try select(secrets)
            result.adopted = lines.map(\.name)
            guard !lines.isEmpty else { return nil }
            let values = try Parallel.map(lines) { try key.open($0) }
            let pending = zip(lines, values).map { line, value in
                SecretsFile.PendingLine(name: line.name, envVar: line.envVar, createdAt: line.createdAt, updatedAt: line.updatedAt,
                                        value: value, sealedValueLength: EnvironmentKey.sealedLength(valueLength: value.count))
            }
            let summary = lines.count <= 5
                ? "adopt \(result.adopted.joined(separator: ", ")) (\(environment))"
                : "adopt \(lines.count) write-only values (\(environment))"
            return StoreChange(streamedFiles: [StoreFormat.secretsPath(environment):
                                                secrets.streamed(with: pending, seal: { try key.seal($0, name: $1, envVar: $2) }, done: { _ in })],
                               message: commitMessage(summary))
        }
        result.commit = commit?.hex
        return result
    }
}
