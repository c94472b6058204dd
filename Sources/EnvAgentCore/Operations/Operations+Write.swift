/// Creating, updating, importing and deleting secrets. Each call is one commit (or none when
/// nothing changed).
extension Operations {
    public enum WriteMode: Sendable {
        /// Fails `already_exists` when the name exists.
        case create
        /// Fails `not_found` when the name does not exist.
        case update
        /// Creates or updates.
        case set
    }

    /// One value to write.
    public struct WriteRequest: Sendable {
        public var name: String
        public var envVar: String?
        public var value: SecretBytes
        /// A member's explicit consent to map the secret to a variable of `ExecutionEnvVars`
        /// (never enough for a write-only writer).
        public var allowsExecutionEnvVar: Bool
        /// An empty value is refused (`empty_value`) unless explicitly allowed: it is far more
        /// often an unset variable or a stray Enter than a value.
        public var allowsEmpty: Bool

        public init(name: String, envVar: String? = nil, value: SecretBytes, allowsExecutionEnvVar: Bool = false,
                    allowsEmpty: Bool = false) {
            self.name = name
            self.envVar = envVar
            self.value = value
            self.allowsExecutionEnvVar = allowsExecutionEnvVar
            self.allowsEmpty = allowsEmpty
        }
    }

    public func create(_ request: WriteRequest, environment: String) throws -> WriteResult {
        try writeOne(request, mode: .create, environment: environment)
    }

    /// The seed operation: replace an existing secret's value, re-encrypted.
    public func update(_ request: WriteRequest, environment: String) throws -> WriteResult {
        try writeOne(request, mode: .update, environment: environment)
    }

    public func set(_ request: WriteRequest, environment: String) throws -> WriteResult {
        try writeOne(request, mode: .set, environment: environment)
    }

    private func writeOne(_ request: WriteRequest, mode: WriteMode, environment: String) throws -> WriteResult {
        let outcome = try write([request], mode: mode, environment: environment)
        return WriteResult(metadata: SecretMetadata(line: outcome.lines[0].line, environment: environment,
                                                    maskedValue: Masking.mask(request.value)),
                           changed: outcome.lines[0].changed, sealed: outcome.sealed)
    }

    /// How `importFile` reads its input.
    public struct ImportOptions: Sendable {
        public var format: FlatMapFile.Format
        /// `--expand`: the process environment consulted for `$VAR` after the file's own keys;
        /// nil reads every `$` literally.
        public var expansion: (@Sendable (String) -> String?)?
        /// A member's consent for keys of `ExecutionEnvVars`.
        public var allowsExecutionEnvVars: Bool
        public var allowsEmpty: Bool

        public init(format: FlatMapFile.Format = .dotenv, expansion: (@Sendable (String) -> String?)? = nil,
                    allowsExecutionEnvVars: Bool = false, allowsEmpty: Bool = false) {
            self.format = format
            self.expansion = expansion
            self.allowsExecutionEnvVars = allowsExecutionEnvVars
            self.allowsEmpty = allowsEmpty
        }
    }

    /// Creates or updates every assignment of a `.env` file in one commit.
    /// `allowingExecutionEnvVars` is a member's consent for keys of `ExecutionEnvVars`.
    public func importDotEnv(_ bytes: [UInt8], environment: String, allowingExecutionEnvVars: Bool = false) throws -> ImportResult {
        try importFile(bytes, environment: environment, options: ImportOptions(allowsExecutionEnvVars: allowingExecutionEnvVars))
    }

    /// Creates or updates every assignment of a `.env`, JSON or YAML file in one commit. A file
    /// without assignments (empty, or comments only) changes nothing. A value is checked where
    /// its key and line are known, so a bad one names them (never the value).
    public func importFile(_ bytes: [UInt8], environment: String, options: ImportOptions) throws -> ImportResult {
        try Validation.environment(environment)
        let parsed: DotEnv.ParsedFile = switch options.format {
        case .dotenv: try DotEnv.parse(bytes, expanding: options.expansion)
        case .json: try FlatMapFile.parseJSON(bytes)
        case .yaml: try FlatMapFile.parseYAML(bytes)
        }
        let assignments = parsed.assignments
        guard !assignments.isEmpty else {
            return ImportResult(environment: environment, created: [], updated: [], unchanged: [], commit: nil, sealed: false,
                                warnings: parsed.warnings)
        }
        for assignment in assignments {
            do { try Validation.value(assignment.value, allowsEmpty: options.allowsEmpty) } catch var error as AgentError {
                let msg = error.details.first?.msg ?? error.message
                error.message = "line \(assignment.line) (\(assignment.key)): \(msg)"
                error.details = [.init(loc: ["file", "line \(assignment.line)", assignment.key], msg: msg,
                                       type: error.details.first?.type ?? "invalid_value")]
                if error.details[0].type == "empty_value" {
                    error.hint = "give \(assignment.key) a value, remove the line, or pass --allow-empty to store empty values"
                }
                throw error
            }
        }
        let requests = assignments.map {
            WriteRequest(name: $0.key, envVar: $0.key, value: $0.value, allowsExecutionEnvVar: options.allowsExecutionEnvVars,
                         allowsEmpty: options.allowsEmpty)
        }
        let outcome = try write(requests, mode: .set, environment: environment)
        let (created, updated, unchanged) = outcome.classified
        return ImportResult(environment: environment, created: created, updated: updated, unchanged: unchanged,
                            commit: outcome.commit?.hex, sealed: outcome.sealed, warnings: parsed.warnings)
    }

    /// Writes `requests` into `environment` as one commit, as `WritePlan` decides.
    ///
    /// A member seals with the environment key; a value equal to the stored one keeps its old
    /// ciphertext, and the other secrets' lines stay as they are (write-only values too: only
    /// `adopt` makes them members' values). Anyone else (no identity, or not a recipient) writes
    /// write-only, sealing each value to the environment's public key. An environment that does
    /// not exist yet is created with the writer as its first recipient. `deletions` (members
    /// only; names that must exist and are not among `requests`) are removed in the same commit.
    func write(_ requests: [WriteRequest], mode: WriteMode, environment: String,
               deleting deletions: [String] = [], message: WriteMessage = .automatic) throws -> WriteOutcome {
        try WritePlan.checkInput(requests, deleting: deletions, environment: environment)
        var outcome = WriteOutcome()
        let commit = try store.apply { snapshot in
            outcome = WriteOutcome()
            let header = try snapshot.requireHeader()
            var files: [String: [UInt8]?] = [:]
            let recipientsFile = try trustedRecipients(environment, in: snapshot)
            let access: Access
            if recipientsFile.recipients.isEmpty {
                let identity = try identity()
                let key = try EnvironmentKey.generate(storeID: header.storeID, environment: environment)
                let label = try Self.label(of: identity.publicKey, in: snapshot)
                files[StoreFormat.recipientsPath(environment)] = try key.recipientsFile(for: [(identity.publicKey, label)]).serialized()
                access = .member(key)
            } else {
                access = try self.access(environment, in: snapshot, file: recipientsFile)
            }
            let plan = try WritePlan(requests, mode: mode, deleting: deletions, environment: environment,
                                     current: try snapshot.secrets(environment), access: access, now: Timestamp.now())
            outcome.existing = plan.existing
            outcome.sealed = plan.writeOnly
            guard plan.changesSecrets || !files.isEmpty else {
                outcome.lines = plan.lines(sealed: [])
                return nil
            }
            let message = commitMessage(plan.summary(message))
            if plan.changes.isEmpty { // only deletions (and unchanged values), or a new environment
                outcome.lines = plan.lines(sealed: [])
                files[StoreFormat.secretsPath(environment)] = plan.secrets.serialized()
                return StoreChange(files: files, message: message)
            }
            // Sealed while the blob is written; the lines are known once it is.
            let streamed = plan.secrets.streamed(with: plan.changes.map(\.line), seal: { try access.seal($0, name: $1, envVar: $2) }) {
                outcome.lines = plan.lines(sealed: $0)
            }
            return StoreChange(files: files, streamedFiles: [StoreFormat.secretsPath(environment): streamed], message: message)
        }
        outcome.commit = commit
        return outcome
    }

    /// The label `publicKey` has as a recipient of any environment (the creator of a new
    /// environment keeps the name the team knows them by).
    static func label(of publicKey: [UInt8], in snapshot: StoreSnapshot) throws -> String? {
        for environment in try snapshot.environments() {
            if let label = try snapshot.recipients(environment).first(where: { Crypto.equal($0.publicKey, publicKey) })?.label {
                return label
            }
        }
        return nil
    }

    /// The `.gitignore` lines `init` adds: rendered `.env` files stay out of git, the usual
    /// committed templates stay tracked.
    public static let ignoredDotEnvLines = [".env", ".env.*", "!.env.example", "!.env.sample", "!.env.template", "!.env.dist"]

    /// `existing` with each line of `ignoredDotEnvLines` it lacks appended (under a comment).
    static func ignoringDotEnvFiles(_ existing: [UInt8]) -> [UInt8] {
        let present = Set(String(decoding: existing, as: UTF8.self).split(whereSeparator: { $0 == "\n" || $0 == "\r" })
            .map { $0.trimmingWhitespace() })
        let missing = ignoredDotEnvLines.filter { !present.contains($0) }
        guard !missing.isEmpty else { return existing }
        var out = existing
        if let last = out.last, last != UInt8(ascii: "\n") { out.append(UInt8(ascii: "\n")) }
        out += "# EnvAgent: rendered .env files are never committed (templates stay tracked)\n".utf8
        for line in missing { out += "\(line)\n".utf8 }
        return out
    }

    /// Deletes a secret (members only).
    public func delete(name: String, environment: String) throws {
        try Validation.environment(environment)
        try Validation.name(name)
        try store.apply { snapshot in
            _ = try environmentKey(environment, in: snapshot)
            // Unchecked: deleting is how a line that breaks the read rules is removed.
            var secrets = try snapshot.uncheckedSecrets(environment)
            var removed = 0
            while secrets.remove(named: name) != nil { removed += 1 } // a NAME on two lines loses both
            guard removed > 0 else { throw Self.noSecret(name, environment) }
            return StoreChange(files: [StoreFormat.secretsPath(environment): secrets.serialized()],
                               message: commitMessage("delete \(name) (\(environment))"))
        }
    }

    /// Creates the store in the repository at `path` (running `git init` there when it is not a
    /// repository yet), with `environment` and the current identity as its first recipient.
    /// Also commits `.gitattributes` lines routing store files to the `envagent` merge driver,
    /// and (with `mergeDriver`, the agent executable) registers that driver in the config.
    public static func initialize(path: String?, environment: String, bare: Bool, label: String? = nil,
                                  mergeDriver: String? = nil,
                                  identitySource: IdentitySource) throws -> (operations: Operations, header: StoreHeader) {
        try Validation.environment(environment)
        if let label { try Validation.recipientLabel(label) }
        let identity = try identitySource.require()
        let target = path ?? FileIO.currentDirectory()
        let repository = try GitRepository.open(target, search: path == nil)
            ?? GitRepository.initialize(target, bare: bare)
        let store = Store(repository: repository)
        var header = StoreHeader(storeID: "")
        try store.apply { snapshot in
            if let existing = try snapshot.header() {
                throw AgentError(.alreadyExists, "this repository already has an EnvAgent store (id \(existing.storeID))",
                                 hint: "add secrets with `agent set NAME`")
            }
            header = StoreHeader(storeID: try StoreHeader.newStoreID())
            let key = try EnvironmentKey.generate(storeID: header.storeID, environment: environment)
            var attributes = try snapshot.file(".gitattributes") ?? []
            if !String(decoding: attributes, as: UTF8.self).contains("merge=envagent") {
                if let last = attributes.last, last != UInt8(ascii: "\n") { attributes.append(UInt8(ascii: "\n")) }
                attributes += Array(gitAttributes.utf8)
            }
            // The work tree's copy when there is one (a regular file, never a symlink's target):
            // a .gitignore not committed yet is kept, not overwritten.
            let ignoreBase = try repository.workdir.flatMap { FileIO.readRegularFile($0 + ".gitignore", upTo: 1 << 20) }
                ?? snapshot.file(".gitignore")
            return StoreChange(files: [
                ".gitattributes": attributes,
                ".gitignore": Self.ignoringDotEnvFiles(ignoreBase ?? []),
                StoreFormat.headerPath: header.serialized(),
                StoreFormat.recipientsPath(environment): try key.recipientsFile(for: [(identity.publicKey, label)]).serialized(),
                StoreFormat.secretsPath(environment): [],
            ], message: "init EnvAgent store (\(environment))\n\n\(writerTrailer) \(identity.publicKeyText)")
        }
        let operations = Operations(store: store, identitySource: identitySource)
        operations.repin([environment]) // this clone pins what it created
        if let mergeDriver { try operations.setupMergeDriver(executable: mergeDriver) }
        return (operations, header)
    }
}
