/// `verify`: every ciphertext of the chosen environments must open with its bound associated
/// data, and each recipients file must carry the public key derived from the environment key.
extension Operations {
    public struct VerifyProblem: Codable, Sendable, Equatable {
        public var environment: String
        /// The secret, nil for a problem of the environment itself (its recipients file).
        public var name: String?
        public var problem: String
        /// A machine type: `bad_ciphertext` for a value that does not open, else that of the
        /// read rule it breaks (`bad_line`, `duplicate_name`, `duplicate_env_var`,
        /// `restricted_env_var`, see `SecretsFile.problems`), `bad_recipients`, or that of a base
        /// that cannot be rendered (`bad_base`, `base_cycle`, `base_not_agreed`, `not_found`, …).
        public var type: String
        /// The commit that last changed the line (nil when it cannot be found).
        public var commit: String?
        public var author: String?
        public var date: String?
    }

    public struct EnvironmentCheck: Codable, Sendable, Equatable {
        public var environment: String
        public var values: Int
        /// Values written write-only (sealed to the public key), included in `values`.
        public var writeOnlyValues: Int
        public var problems: [VerifyProblem]

        enum CodingKeys: String, CodingKey {
            case environment, values
            case writeOnlyValues = "write_only_values"
            case problems
        }
    }

    /// Checks the selected environments (members only: `forbidden` otherwise) and returns what
    /// it found; the caller decides how to fail. Never throws for a bad line.
    public func verify(_ selection: EnvironmentSelection) throws -> [EnvironmentCheck] {
        let snapshot = try store.snapshot()
        return try resolve(selection, in: snapshot).map { environment in
            let file = try trustedRecipients(environment, in: snapshot)
            let key = try environmentKey(environment, in: snapshot, file: file)
            var check = EnvironmentCheck(environment: environment, values: 0, writeOnlyValues: 0, problems: [])
            // Signed by a member, so only a member's mistake could make these differ.
            let signingKey = try key.signingKeyPair().publicKey
            if file.publicKey != key.publicKey.key || file.signingKey != signingKey {
                check.problems.append(problem(environment, nil,
                    "the recipients file's public or signing key is not derived from the environment key (`agent rotate` rewrites both)",
                    type: "bad_recipients",
                    path: StoreFormat.recipientsPath(environment)))
            }
            // Its bases: a malformed base file, a cycle, a base that never agreed.
            do {
                _ = try layers(of: environment, in: snapshot)
            } catch let error as AgentError {
                check.problems.append(problem(environment, nil, error.message, type: error.details.first?.type ?? "bad_base",
                                              path: StoreFormat.basePath(environment)))
            }
            let secrets = try snapshot.uncheckedSecrets(environment)
            for broken in secrets.problems {
                check.problems.append(problem(environment, broken.name, broken.message, type: broken.type,
                                              path: StoreFormat.secretsPath(environment)))
            }
            // A line listed above is not opened too: its ENV_VAR, bound into the associated
            // data, would make it fail a second time for the same edit.
            let listed = Set(secrets.problems.compactMap(\.name))
            for line in secrets.lines {
                check.values += 1
                if line.valueKind == .sealed { check.writeOnlyValues += 1 }
                guard line.isWellFormed, !listed.contains(line.name) else { continue }
                do {
                    _ = try key.open(line)
                } catch let error as AgentError {
                    check.problems.append(problem(environment, line.name, error.details.first?.msg ?? error.message,
                                                  type: "bad_ciphertext", path: StoreFormat.secretsPath(environment)))
                }
            }
            return check
        }
    }

    private func problem(_ environment: String, _ name: String?, _ text: String, type: String, path: String) -> VerifyProblem {
        let commit = try? lastChange(of: path, line: name)
        return VerifyProblem(environment: environment, name: name, problem: text, type: type, commit: commit?.id.hex,
                             author: commit.map { "\($0.authorName) <\($0.authorEmail)>" },
                             date: commit.map { Timestamp.format($0.time) })
    }

    /// The newest commit reachable from `start` (default HEAD) that changed `path` (or, with
    /// `line`, that secret's line in it).
    func lastChange(of path: String, line name: String?, from start: ObjectID? = nil) throws -> GitCommit? {
        guard let head = try start ?? store.snapshot().commit else { return nil }
        func state(_ tree: GitTree) throws -> [UInt8]? {
            guard let name else { return try tree.entryID(at: path).map { Array($0.hex.utf8) } }
            return try tree.blob(at: path).flatMap { SecretsFile.parse($0).line(named: name).map { Array($0.raw) } }
        }
        var found: GitCommit?
        try walkChanges(from: head, of: state) { commit, _, _ in
            found = commit
            return false
        }
        return found
    }
}
