/// Reading the store: metadata, masked listings, reveals, rendering and history.
extension Operations {
    /// Metadata with the masked value; a non-member (write-only) sees `••••` for the value.
    public func get(name: String, environment: String) throws -> SecretMetadata {
        try Validation.environment(environment)
        try Validation.name(name)
        let snapshot = try store.snapshot()
        let access = try access(environment, in: snapshot)
        guard let line = try snapshot.secrets(environment).line(named: name) else { throw Self.noSecret(name, environment) }
        return try Self.metadata(line, environment: environment, access: access)
    }

    /// The decrypted value; the caller prints it once and drops it.
    public func reveal(name: String, environment: String) throws -> SecretBytes {
        let (line, key) = try locate(name, environment)
        return try key.open(line)
    }

    /// Every secret's metadata; a non-member (write-only) sees names and `••••` only. A value
    /// that does not open lists as `••••` with its `error` (the other lines stay readable);
    /// `render` and `run` still refuse it.
    public func list(environment: String) throws -> [SecretMetadata] {
        try Validation.environment(environment)
        let snapshot = try store.snapshot()
        let access = try access(environment, in: snapshot)
        return try snapshot.secrets(environment).lines.map { line in
            do {
                return try Self.metadata(line, environment: environment, access: access)
            } catch let error as AgentError where error.details.first?.type == "bad_ciphertext" {
                var metadata = SecretMetadata(line: line, environment: environment, maskedValue: Masking.bullets)
                metadata.error = error.details.first?.msg
                return metadata
            }
        }
    }

    private static func metadata(_ line: SecretLine, environment: String, access: Access) throws -> SecretMetadata {
        switch access {
        case .member(let key): SecretMetadata(line: line, environment: environment, maskedValue: Masking.mask(try key.open(line)))
        case .writeOnly: SecretMetadata(line: line, environment: environment, maskedValue: Masking.bullets)
        }
    }

    public func environments() throws -> [EnvironmentSummary] {
        let snapshot = try store.snapshot()
        _ = try snapshot.requireHeader()
        return try snapshot.environments().map { name in
            // Only counted: a broken line stops the reads of its environment, not this overview.
            EnvironmentSummary(name: name, secretCount: try snapshot.uncheckedSecrets(name).lines.count,
                               recipientCount: try snapshot.recipients(name).count)
        }
    }

    /// Decrypted entries for `names` (all when empty) of `environment` merged over its bases,
    /// in the order named.
    public func entries(names: [String], environment: String) throws -> [RenderEntry] {
        let (snapshot, key) = try readableSnapshot(environment)
        let layers = try layers(of: environment, in: snapshot)
        if layers.count > 1 {
            var keys = [environment: key]
            let lines = try layeredLines(names, environment: environment, layers: layers, in: snapshot, keys: &keys)
            return try Parallel.map(lines) { RenderEntry(name: $0.line.name, envVar: $0.line.envVar, value: try $0.key.open($0.line)) }
        }
        let lines = try Self.select(names, from: snapshot.secrets(environment), environment: environment)
        return try Parallel.map(lines) { RenderEntry(name: $0.name, envVar: $0.envVar, value: try key.open($0)) }
    }

    /// The store at HEAD and the key that opens `environment`'s values.
    func readableSnapshot(_ environment: String) throws -> (StoreSnapshot, EnvironmentKey) {
        try Validation.environment(environment)
        let snapshot = try store.snapshot()
        return (snapshot, try environmentKey(environment, in: snapshot))
    }

    /// The lines `names` select from `secrets`: all when empty, else in the order named
    /// (`not_found` for a name that is not there).
    static func select(_ names: [String], from secrets: SecretsFile, environment: String) throws -> [SecretLine] {
        guard !names.isEmpty else { return secrets.lines }
        return try names.map { name in
            try Validation.name(name) // a malformed name is a bad request, not a missing secret
            guard let line = secrets.line(named: name) else { throw noSecret(name, environment) }
            return line
        }
    }

    /// Commits that changed the store, or (with `name`) that secret's line or the recipients of
    /// `environment` (who could read it). Each entry names the writer's recipient label when the
    /// commit carries the writer's public key and that key is a recipient somewhere.
    public func history(name: String?, environment: String, limit: Int = 1000) throws -> [HistoryEntry] {
        let snapshot = try store.snapshot()
        _ = try snapshot.requireHeader()
        guard let head = snapshot.commit else { return [] }
        if let name { try Validation.name(name) }
        func relevant(_ tree: GitTree) throws -> [[UInt8]?] {
            guard let name else { return [try tree.entryID(at: StoreFormat.folder).map { Array($0.hex.utf8) }] }
            let line = try tree.blob(at: StoreFormat.secretsPath(environment)).flatMap {
                SecretsFile.parse($0).line(named: name).map { Array($0.raw) }
            }
            return [line, try tree.entryID(at: StoreFormat.recipientsPath(environment)).map { Array($0.hex.utf8) }]
        }
        let labels = try recipientLabels(snapshot)
        var entries: [HistoryEntry] = []
        try walkChanges(from: head, of: relevant) { commit, mine, parent in
            let summary = commit.summary
            let action: String
            if name != nil, mine[0] == nil, parent?[0] != nil { action = "delete" }
            else if name != nil, mine[0] != nil, parent?[0] == nil { action = "create" }
            else { action = String(summary.split(separator: " ").first ?? "edit") }
            entries.append(HistoryEntry(commit: commit.id.hex, date: Timestamp.format(commit.time),
                                        author: "\(commit.authorName) <\(commit.authorEmail)>",
                                        recipient: Self.writer(of: commit.message, labels: labels),
                                        action: action, summary: summary))
            return entries.count < limit
        }
        return entries
    }

    /// Walks back from `head` and calls `body` for each commit whose `state` differs from its
    /// first parent's (nil parent state for a root commit) until `body` returns false.
    func walkChanges<State: Equatable>(from head: ObjectID, of state: (GitTree) throws -> State,
                                       _ body: (GitCommit, State, State?) throws -> Bool) throws {
        let repository = store.repository
        try repository.walk(from: head) { commit in
            let mine = try state(commit.tree())
            let parent = try commit.parentIDs.first.map { try state(repository.commit($0).tree()) }
            return mine == parent ? true : try body(commit, mine, parent)
        }
    }

    /// Public key text → label, over every environment's trusted recipients at HEAD (a label in
    /// a file nobody signed could pass anyone off as a member).
    private func recipientLabels(_ snapshot: StoreSnapshot) throws -> [String: String] {
        var labels: [String: String] = [:]
        for environment in try snapshot.environments() {
            for recipient in (try? trustedRecipients(environment, in: snapshot, pinning: false))?.recipients ?? [] {
                if let label = recipient.label { labels[Identity.publicKeyText(recipient.publicKey)] = label }
            }
        }
        return labels
    }

    /// The writer named by a commit's trailer: its label, else its public key shortened;
    /// `write-only` for a write-only write without an identity; nil for commits not made by agent.
    private static func writer(of message: String, labels: [String: String]) -> String? {
        for line in message.split(separator: "\n").reversed() where line.hasPrefix(writerTrailer) {
            let key = line.dropFirst(writerTrailer.count).trimmingWhitespace()
            return labels[key] ?? shortKey(key)
        }
        return message.contains("[write-only]") ? "write-only" : nil
    }

    private func locate(_ name: String, _ environment: String) throws -> (SecretLine, EnvironmentKey) {
        try Validation.environment(environment)
        try Validation.name(name)
        let snapshot = try store.snapshot()
        let key = try environmentKey(environment, in: snapshot)
        guard let line = try snapshot.secrets(environment).line(named: name) else { throw Self.noSecret(name, environment) }
        return (line, key)
    }
}
