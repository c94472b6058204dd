/// What one write will change, decided without side effects from the requests, the
/// environment's current secrets and the writer's access: every check the write paths share
/// (`create`, `update`, `set`, the API's group commit, `import`, `edit`, `copy`) lives here, so
/// they cannot drift apart. `Operations.write` builds one inside the store transaction, then
/// seals and commits what it says.
struct WritePlan {
    /// One request whose line will be (re)sealed.
    struct Change {
        /// The request's position in the write.
        let request: Int
        let line: SecretsFile.PendingLine
    }

    let environment: String
    /// The names written, in request order.
    let names: [String]
    let deletions: [String]
    /// Each request's line before the write (nil for a new secret), in request order.
    let previous: [SecretLine?]
    /// The lines to seal, in request order: a member's unchanged values are left out.
    private(set) var changes: [Change]
    /// The environment's secrets after the deletions, before the changes are sealed in.
    let secrets: SecretsFile
    /// True when the writer is not a member: values are sealed to the environment's public key.
    let writeOnly: Bool

    /// The checks that need no store: valid names, env vars and values; no name written twice
    /// or both written and deleted.
    static func checkInput(_ requests: [Operations.WriteRequest], deleting deletions: [String] = [],
                           environment: String) throws {
        try Validation.environment(environment)
        guard Set(requests.map(\.name)).count == requests.count else {
            throw AgentError(.invalidRequest, "a secret name is given twice in one write")
        }
        guard Set(deletions).isDisjoint(with: requests.map(\.name)) else {
            throw AgentError(.invalidRequest, "a secret is both written and deleted in one write")
        }
        for name in deletions { try Validation.name(name) }
        for request in requests { try checkInput(request) }
    }

    /// One request's own rules: its name, env var and value.
    static func checkInput(_ request: Operations.WriteRequest) throws {
        try Validation.name(request.name)
        if let envVar = request.envVar { try Validation.envVar(envVar) }
        try Validation.value(request.value, allowsEmpty: request.allowsEmpty)
    }

    /// Plans `requests` (already through `checkInput`) against `current`: `mode` decides
    /// whether a name must or must not exist; each env var keeps one owner; a variable of
    /// `ExecutionEnvVars` needs consent (and is never open to a write-only writer); a member
    /// writing the value a line already holds keeps its ciphertext. Deletions are members' only.
    init(_ requests: [Operations.WriteRequest], mode: Operations.WriteMode, deleting deletions: [String] = [],
         environment: String, current: SecretsFile, access: Operations.Access, now: String) throws {
        self.environment = environment
        self.names = requests.map(\.name)
        self.deletions = deletions
        self.writeOnly = access.isWriteOnly
        var secrets = current
        if !deletions.isEmpty {
            guard case .member = access else {
                throw AgentError(.forbidden, "only members of environment '\(environment)' can delete its secrets",
                                 details: [.init(loc: ["name"], msg: "write-only access cannot delete", type: "forbidden")],
                                 hint: "ask a member to delete them, or to add you with `agent recipients add`")
            }
            for name in deletions where secrets.remove(named: name) == nil { throw Operations.noSecret(name, environment) }
        }
        var ownerOfEnvVar: [String: String] = [:]
        ownerOfEnvVar.reserveCapacity(secrets.lines.count + requests.count)
        for line in secrets.lines { ownerOfEnvVar[line.envVar] = line.name }
        var previous: [SecretLine?] = []
        previous.reserveCapacity(requests.count)
        var changes: [Change] = []
        changes.reserveCapacity(requests.count)
        for (index, request) in requests.enumerated() {
            let old = secrets.line(named: request.name)
            switch (mode, old) {
            case (.create, .some):
                throw AgentError(.alreadyExists, "secret '\(request.name)' already exists in environment '\(environment)'",
                                 details: [.init(loc: ["name"], msg: "already exists", type: "already_exists")],
                                 hint: "use `agent update \(request.name)` to change its value")
            case (.update, .none):
                throw Operations.noSecret(request.name, environment)
            default: break
            }
            let envVar = try request.envVar ?? old?.envVar ?? Validation.resolveEnvVar(name: request.name, explicit: nil)
            if access.isWriteOnly || envVar != old?.envVar {
                try Validation.executionEnvVar(envVar, writeOnly: access.isWriteOnly, allowed: request.allowsExecutionEnvVar)
            }
            if let owner = ownerOfEnvVar[envVar], owner != request.name {
                throw AgentError.validation("env_var", "\(envVar) is already the env var of secret '\(owner)' in environment '\(environment)'",
                                            type: "duplicate_env_var", hint: "pick another with --env-var")
            }
            if let old, old.envVar != envVar { ownerOfEnvVar[old.envVar] = nil }
            ownerOfEnvVar[envVar] = request.name
            previous.append(old)
            changes.append(Change(request: index, line: SecretsFile.PendingLine(
                name: request.name, envVar: envVar, createdAt: old?.createdAt ?? now, updatedAt: now, value: request.value,
                sealedValueLength: access.sealedLength(valueLength: request.value.count))))
        }
        self.previous = previous
        self.secrets = secrets
        self.changes = changes
        if case .member(let key) = access { try dropUnchanged(opening: key) }
    }

    /// Leaves out the requests whose value (and env var) their line already holds. The lines
    /// are opened on every core: each is independent.
    private mutating func dropUnchanged(opening key: EnvironmentKey) throws {
        let before = previous
        let candidates = changes.filter { before[$0.request]?.envVar == $0.line.envVar }
        guard !candidates.isEmpty else { return }
        let same = try Parallel.map(candidates) { change in
            guard let current = try? key.open(before[change.request]!) else { return false }
            return current.matches(change.line.value)
        }
        let unchanged = Set(zip(candidates, same).filter(\.1).map(\.0.request))
        changes.removeAll { unchanged.contains($0.request) }
    }

    /// Names whose line the write changes, in request order.
    var changedNames: [String] { changes.map(\.line.name) }

    /// Names that existed before the write.
    var existing: Set<String> { Set(previous.compactMap { $0?.name }) }

    /// True when the write changes the secrets file at all.
    var changesSecrets: Bool { !changes.isEmpty || !deletions.isEmpty }

    /// Each request's line after the write, given the sealed lines of `changes` in their order.
    func lines(sealed: [SecretLine]) -> [(line: SecretLine, changed: Bool)] {
        var sealedLine = [SecretLine?](repeating: nil, count: names.count)
        for (change, line) in zip(changes, sealed) { sealedLine[change.request] = line }
        return names.indices.map { index in sealedLine[index].map { ($0, true) } ?? (previous[index]!, false) }
    }

    /// The commit's summary line (before `Operations.commitMessage` adds the trailers).
    func summary(_ message: WriteMessage) -> String {
        let changed = changedNames
        func counted(_ verb: String, _ names: [String], from source: String? = nil) -> String {
            "\(verb) \(names.count) secret\(names.count == 1 ? "" : "s")\(source.map { " from \($0)" } ?? "") (\(environment))"
                + (names.count <= 5 ? ": " + names.joined(separator: ", ") : "")
        }
        var summary = switch message {
        case _ where !changesSecrets: "set the public key (\(environment))"
        case .automatic where names.count == 1: "\(existing.isEmpty ? "create" : "update") \(names[0]) (\(environment))"
        case .automatic: counted("import", changed)
        case .group(let verb): "\(verb) \(changed.joined(separator: ", ")) (\(environment))"
        case .edit: counted("edit", (changed + deletions).sorted())
        case .copy(let source): counted("copy", changed, from: source)
        }
        if writeOnly { summary += " [write-only]" }
        return summary
    }
}

/// How a write's commit message names what it changed.
enum WriteMessage: Sendable {
    /// `create NAME (env)` / `update NAME (env)` for one secret, `import N secrets (env): A, B`
    /// for several.
    case automatic
    /// `VERB A, B, C (env)`: the API's group commit of concurrent requests.
    case group(verb: String)
    /// `edit N secrets (env): A, B`, deletions included.
    case edit
    /// `copy N secrets from SOURCE (env): A, B`.
    case copy(from: String)
}

/// What `Operations.write` did.
struct WriteOutcome {
    /// Each request's line after the write, in request order, and whether the write changed it.
    var lines: [(line: SecretLine, changed: Bool)] = []
    /// Names that existed before the write.
    var existing: Set<String> = []
    /// True when written write-only (sealed to the environment's public key by a non-member).
    var sealed = false
    /// The commit written; nil when nothing changed.
    var commit: ObjectID?

    /// The written names sorted into created, updated and unchanged, in request order.
    var classified: (created: [String], updated: [String], unchanged: [String]) {
        var created: [String] = [], updated: [String] = [], unchanged: [String] = []
        for (line, changed) in lines {
            if !changed { unchanged.append(line.name) }
            else if existing.contains(line.name) { updated.append(line.name) }
            else { created.append(line.name) }
        }
        return (created, updated, unchanged)
    }
}
