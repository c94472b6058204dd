/// Reading the store: metadata, masked listings, reveals, rendering and history.
extension Operations {
    public func get(name: String, environment: String) throws -> SecretMetadata {
        let (line, key) = try locate(name, environment)
        let value = try key.open(line)
        return SecretMetadata(line: line, environment: environment, maskedValue: Masking.mask(value))
    }

    /// The decrypted value; the caller prints it once and drops it.
    public func reveal(name: String, environment: String) throws -> SecretBytes {
        let (line, key) = try locate(name, environment)
        return try key.open(line)
    }

    public func list(environment: String) throws -> [SecretMetadata] {
        try Validation.environment(environment)
        let snapshot = try store.snapshot()
        let key = try environmentKey(environment, in: snapshot)
        return try snapshot.secrets(environment).lines.map { line in
            SecretMetadata(line: line, environment: environment, maskedValue: Masking.mask(try key.open(line)))
        }
    }

    public func environments() throws -> [EnvironmentSummary] {
        let snapshot = try store.snapshot()
        _ = try snapshot.requireHeader()
        return try snapshot.environments().map { name in
            EnvironmentSummary(name: name, secretCount: try snapshot.secrets(name).lines.count,
                               recipientCount: try snapshot.recipients(name).count)
        }
    }

    /// Decrypted entries for `names` (all when empty), in the order named.
    public func entries(names: [String], environment: String) throws -> [RenderEntry] {
        try Validation.environment(environment)
        let snapshot = try store.snapshot()
        let key = try environmentKey(environment, in: snapshot)
        let secrets = try snapshot.secrets(environment)
        let lines = try names.isEmpty ? secrets.lines : names.map { name in
            guard let line = secrets.line(named: name) else { throw Self.noSecret(name, environment) }
            return line
        }
        return try lines.map { RenderEntry(name: $0.name, envVar: $0.envVar, value: try key.open($0)) }
    }

    /// The rendered file (`.env`, `sh` or JSON) for `names` (all when empty).
    public func render(names: [String], environment: String, format: RenderFormat) throws -> SecretBytes {
        try DotEnv.render(entries(names: names, environment: environment), format: format)
    }

    /// Commits that changed the store, or (with `name`) that secret's line in `environment`.
    public func history(name: String?, environment: String, limit: Int = 1000) throws -> [HistoryEntry] {
        let snapshot = try store.snapshot()
        _ = try snapshot.requireHeader()
        guard let head = snapshot.commit else { return [] }
        if let name { try Validation.name(name) }
        let repository = store.repository
        let path = name == nil ? StoreFormat.folder : StoreFormat.secretsPath(environment)
        func relevant(_ tree: GitTree) throws -> [UInt8]? {
            guard let name else { return try tree.entryID(at: path).map { Array($0.hex.utf8) } }
            guard let bytes = try tree.blob(at: path) else { return nil }
            return SecretsFile.parse(bytes).line(named: name).map { Array($0.raw) }
        }
        var entries: [HistoryEntry] = []
        try repository.walk(from: head) { commit in
            let mine = try relevant(commit.tree())
            let parent = try commit.parentIDs.first.map { try relevant(repository.commit($0).tree()) } ?? nil
            if mine != parent {
                let summary = commit.summary
                let action = mine == nil ? "delete" : (parent == nil && name != nil ? "create"
                    : String(summary.split(separator: " ").first ?? "edit"))
                entries.append(HistoryEntry(commit: commit.id.hex, date: Timestamp.format(commit.time),
                                            author: "\(commit.authorName) <\(commit.authorEmail)>",
                                            action: action, summary: summary))
            }
            return entries.count < limit
        }
        return entries
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
