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

        public init(name: String, envVar: String? = nil, value: SecretBytes) {
            self.name = name
            self.envVar = envVar
            self.value = value
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
        let written = try write([request], mode: mode, environment: environment)[0]
        return WriteResult(metadata: SecretMetadata(line: written.line, environment: environment,
                                                    maskedValue: Masking.mask(request.value)),
                           changed: written.changed)
    }

    /// Creates or updates every assignment of a `.env` file in one commit.
    public func importDotEnv(_ bytes: [UInt8], environment: String) throws -> ImportResult {
        let assignments = try DotEnv.parse(bytes)
        guard !assignments.isEmpty else {
            throw AgentError(.invalidRequest, "the file holds no KEY=value lines")
        }
        var created: [String] = [], updated: [String] = [], unchanged: [String] = []
        let requests = assignments.map { WriteRequest(name: $0.key, envVar: $0.key, value: $0.value) }
        var existedBefore: Set<String> = []
        var commit: ObjectID?
        let results = try write(requests, mode: .set, environment: environment,
                                existing: { existedBefore = $0 }, committed: { commit = $0 })
        for result in results {
            if !result.changed { unchanged.append(result.line.name) }
            else if existedBefore.contains(result.line.name) { updated.append(result.line.name) }
            else { created.append(result.line.name) }
        }
        return ImportResult(environment: environment, created: created, updated: updated, unchanged: unchanged, commit: commit?.hex)
    }

    /// Writes `requests` into `environment` as one commit. An environment that does not exist
    /// yet is created with the writer as its first recipient. A value equal to the stored one
    /// keeps its old ciphertext.
    func write(_ requests: [WriteRequest], mode: WriteMode, environment: String,
               existing reportExisting: (Set<String>) -> Void = { _ in },
               committed reportCommit: (ObjectID?) -> Void = { _ in },
               message customMessage: ((_ changedNames: [String]) -> String)? = nil) throws -> [(line: SecretLine, changed: Bool)] {
        try Validation.environment(environment)
        guard Set(requests.map(\.name)).count == requests.count else {
            throw AgentError(.invalidRequest, "a secret name is given twice in one write")
        }
        for request in requests {
            try Validation.name(request.name)
            if let envVar = request.envVar { try Validation.envVar(envVar) }
            try Validation.value(request.value)
        }
        var results: [(line: SecretLine, changed: Bool)] = []
        let commit = try store.apply { snapshot in
            results = []
            let header = try snapshot.requireHeader()
            var files: [String: [UInt8]?] = [:]
            let recipients = try snapshot.recipients(environment)
            let key: EnvironmentKey
            if recipients.isEmpty {
                let identity = try identity()
                key = try EnvironmentKey.generate(storeID: header.storeID, environment: environment)
                files[StoreFormat.recipientsPath(environment)] = RecipientsFile.serialize([try key.wrapped(for: identity.publicKey, label: nil)])
            } else {
                key = try EnvironmentKey.unwrap(from: recipients, identity: identity(), storeID: header.storeID,
                                                environment: environment)
            }
            var secrets = try snapshot.secrets(environment)
            var ownerOfEnvVar: [String: String] = [:]
            for line in secrets.lines { ownerOfEnvVar[line.envVar] = line.name }
            var existing: Set<String> = []
            let now = Timestamp.now()
            var changedNames: [String] = []
            var newLines: [SecretLine] = []
            for request in requests {
                let old = secrets.line(named: request.name)
                if old != nil { existing.insert(request.name) }
                switch (mode, old) {
                case (.create, .some):
                    throw AgentError(.alreadyExists, "secret '\(request.name)' already exists in environment '\(environment)'",
                                     details: [.init(loc: ["name"], msg: "already exists", type: "already_exists")],
                                     hint: "use `agent update \(request.name)` to change its value")
                case (.update, .none):
                    throw Self.noSecret(request.name, environment)
                default: break
                }
                let envVar = try request.envVar ?? old?.envVar ?? Validation.resolveEnvVar(name: request.name, explicit: nil)
                if let owner = ownerOfEnvVar[envVar], owner != request.name {
                    throw AgentError.validation("env_var", "\(envVar) is already the env var of secret '\(owner)' in environment '\(environment)'",
                                                type: "duplicate_env_var", hint: "pick another with --env-var")
                }
                if let old, old.envVar == envVar, let current = try? key.open(old),
                   Crypto.equal(current.bytes, request.value.bytes) {
                    results.append((old, false))
                    continue
                }
                let line = SecretLine(name: request.name, envVar: envVar, createdAt: old?.createdAt ?? now, updatedAt: now,
                                      sealedValue: try key.seal(request.value, name: request.name))
                if let old, old.envVar != envVar { ownerOfEnvVar[old.envVar] = nil }
                ownerOfEnvVar[envVar] = request.name
                newLines.append(line)
                changedNames.append(request.name)
                results.append((line, true))
            }
            reportExisting(existing)
            guard !changedNames.isEmpty || !files.isEmpty else { return nil }
            secrets.upsert(contentsOf: newLines)
            files[StoreFormat.secretsPath(environment)] = secrets.serialized()
            let message: String
            if let customMessage {
                message = customMessage(changedNames)
            } else if requests.count == 1 {
                message = "\(existing.isEmpty ? "create" : "update") \(requests[0].name) (\(environment))"
            } else {
                message = "import \(changedNames.count) secret\(changedNames.count == 1 ? "" : "s") (\(environment))"
                    + (changedNames.count <= 5 ? ": " + changedNames.joined(separator: ", ") : "")
            }
            return StoreChange(files: files, message: message)
        }
        reportCommit(commit)
        return results
    }

    /// Deletes a secret (members only).
    public func delete(name: String, environment: String) throws {
        try Validation.environment(environment)
        try Validation.name(name)
        try store.apply { snapshot in
            _ = try environmentKey(environment, in: snapshot)
            var secrets = try snapshot.secrets(environment)
            guard secrets.remove(named: name) != nil else { throw Self.noSecret(name, environment) }
            return StoreChange(files: [StoreFormat.secretsPath(environment): secrets.serialized()],
                               message: "delete \(name) (\(environment))")
        }
    }

    /// Creates the store in the repository at `path` (running `git init` there when it is not a
    /// repository yet), with `environment` and the current identity as its first recipient.
    public static func initialize(path: String?, environment: String, bare: Bool,
                                  identitySource: IdentitySource) throws -> (operations: Operations, header: StoreHeader) {
        try Validation.environment(environment)
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
            return StoreChange(files: [
                StoreFormat.headerPath: header.serialized(),
                StoreFormat.recipientsPath(environment): RecipientsFile.serialize([try key.wrapped(for: identity.publicKey, label: nil)]),
                StoreFormat.secretsPath(environment): [],
            ], message: "init EnvAgent store (\(environment))")
        }
        return (Operations(store: store, identitySource: identitySource), header)
    }
}
