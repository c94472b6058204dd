/// Layering: an environment may name a base environment (`.envagent/ENV/base`, see
/// docs/format.md); `render`, `run`, render targets and the API's dotenv merge the base's
/// secrets under the environment's own (the environment wins). And `copy`: secrets of one
/// environment written into another, re-sealed under its key, in one commit.
extension Operations {
    /// The longest chain of bases followed (the environment itself included).
    public static let maxLayers = 8

    /// The environments whose secrets `environment` renders, base-most first, ending with
    /// `environment`. A base that does not exist, a cycle or a chain longer than `maxLayers`
    /// is an error naming the environments; so is a base whose members have not signed that
    /// it may be built on (`base-for` in its recipients file): anyone can push a base file.
    func layers(of environment: String, in snapshot: StoreSnapshot) throws -> [String] {
        var chain = [environment]
        while let base = try snapshot.base(of: chain[0]) {
            if let index = chain.firstIndex(of: base) {
                let cycle = ([base] + chain[...index].reversed()).joined(separator: " → ")
                throw AgentError(.internalError, "the bases of environment '\(environment)' form a cycle: \(cycle)",
                                 details: [.init(loc: [StoreFormat.basePath(chain[0])], msg: "cycle", type: "base_cycle")],
                                 hint: "remove one with `agent base --unset --env ENV`")
            }
            let baseFile = try trustedRecipients(base, in: snapshot)
            guard !baseFile.recipients.isEmpty else {
                throw AgentError(.notFound, "environment '\(chain[0])' names base '\(base)', which does not exist",
                                 details: [.init(loc: [StoreFormat.basePath(chain[0])], msg: "no such environment", type: "not_found")],
                                 hint: "create '\(base)' or run `agent base --unset --env \(chain[0])`")
            }
            guard baseFile.baseFor.contains(chain[0]) else {
                throw AgentError(.untrustedChange, "environment '\(chain[0])' names base '\(base)', but the members of '\(base)' have not signed that '\(chain[0])' may build on it",
                                 details: [.init(loc: [StoreFormat.basePath(chain[0])], msg: "base not agreed by its members", type: "base_not_agreed")],
                                 hint: "a member of both runs `agent base \(base) --env \(chain[0])`; or remove it: `agent base --unset --env \(chain[0])`")
            }
            chain.insert(base, at: 0)
            guard chain.count <= Self.maxLayers else {
                throw AgentError(.internalError, "the chain of bases of environment '\(environment)' is longer than \(Self.maxLayers)",
                                 details: [.init(loc: [StoreFormat.basePath(environment)], msg: "too many layers", type: "base_too_deep")])
            }
        }
        return chain
    }

    /// A line to render and the key that opens it.
    struct LayeredLine {
        let line: SecretLine
        let key: EnvironmentKey
    }

    /// The lines `names` select (all when empty) from `environment` merged over its bases: a
    /// secret of a later layer replaces one of an earlier layer with the same NAME or the same
    /// ENV_VAR. Sorted by name. Every layer must be readable by this identity.
    func layeredLines(_ names: [String], environment: String, layers: [String], in snapshot: StoreSnapshot,
                      keys: inout [String: EnvironmentKey]) throws -> [LayeredLine] {
        var byName: [String: LayeredLine] = [:]
        var nameOfEnvVar: [String: String] = [:]
        for layer in layers {
            let key = try keys[layer] ?? environmentKey(layer, in: snapshot)
            keys[layer] = key
            for line in try snapshot.secrets(layer).lines {
                if let replaced = byName.removeValue(forKey: line.name) { nameOfEnvVar[replaced.line.envVar] = nil }
                if let owner = nameOfEnvVar.removeValue(forKey: line.envVar) { byName[owner] = nil }
                byName[line.name] = LayeredLine(line: line, key: key)
                nameOfEnvVar[line.envVar] = line.name
            }
        }
        guard !names.isEmpty else { return byName.values.sorted { SecretsFile.precedes($0.line.name, $1.line.name) } }
        return try names.map { name in
            try Validation.name(name)
            guard let found = byName[name] else { throw Self.noSecret(name, environment) }
            return found
        }
    }

    /// `lines` decrypted and rendered in `format`, in order.
    static func render(_ lines: [LayeredLine], format: RenderFormat, manifestName: String) throws -> SecretBytes {
        var buffers = EnvironmentKey.OpeningBuffers()
        var out: [UInt8] = []
        do {
            for (index, item) in lines.enumerated() {
                try item.key.withOpened(item.line, using: &buffers) { value in
                    try DotEnv.append(name: item.line.name, envVar: item.line.envVarBytes, value: value, format: format,
                                      first: index == 0, to: &out)
                }
            }
        } catch {
            Crypto.wipe(&out)
            throw error
        }
        return DotEnv.framed([SecretBytes(out)], format: format, manifestName: manifestName)
    }

    /// The base `environment` names, nil when none.
    public func base(of environment: String) throws -> String? {
        try Validation.environment(environment)
        let snapshot = try store.snapshot()
        _ = try access(environment, in: snapshot) // not_found, untrusted_change
        return try snapshot.base(of: environment)
    }

    /// Names `base` as the base of `environment` (nil removes it), one commit. Only a member of
    /// both may: whoever sets a base must be able to render the result, and signs, for the
    /// base's members, that `environment` may build on it (`base-for` in the base's recipients
    /// file). The base must exist and must not lead back to `environment`. Removing a base also
    /// withdraws that agreement when this identity is a member of the old base.
    @discardableResult
    public func setBase(_ base: String?, of environment: String) throws -> ObjectID? {
        try Validation.environment(environment)
        if let base { try Validation.environment(base) }
        return try store.apply { snapshot in
            _ = try environmentKey(environment, in: snapshot)
            let path = StoreFormat.basePath(environment)
            let exists = try snapshot.file(path) != nil
            let current = try? snapshot.base(of: environment) // a malformed file is replaced or removed
            var files: [String: [UInt8]?] = [:]
            // Withdraws `environment` from `old`'s agreement, when this identity can sign for it.
            func withdraw(from old: String) throws {
                guard old != base, var file = try? trustedRecipients(old, in: snapshot), file.baseFor.contains(environment),
                      let key = try? environmentKey(old, in: snapshot, file: file)
                else { return }
                file.baseFor.removeAll { $0 == environment }
                files[StoreFormat.recipientsPath(old)] = try key.signed(file).serialized()
            }
            guard let base else {
                guard exists else { return nil }
                if let current { try withdraw(from: current) }
                files[path] = .some(nil)
                return StoreChange(files: files, message: commitMessage("remove the base of \(environment)"))
            }
            guard base != environment else {
                throw AgentError.validation("base", "an environment cannot be its own base", type: "base_cycle")
            }
            var baseFile = try trustedRecipients(base, in: snapshot)
            let baseKey = try environmentKey(base, in: snapshot, file: baseFile)
            if current == base, baseFile.baseFor.contains(environment) { return nil }
            if try layers(of: base, in: snapshot).contains(environment) {
                throw AgentError.validation("base", "'\(base)' already builds on '\(environment)': that would be a cycle", type: "base_cycle")
            }
            if let current { try withdraw(from: current) }
            if !baseFile.baseFor.contains(environment) {
                baseFile.baseFor.append(environment)
                files[StoreFormat.recipientsPath(base)] = try baseKey.signed(baseFile).serialized()
            }
            if current != base { files[path] = StoreFormat.baseFile(base) }
            return StoreChange(files: files, message: commitMessage("base \(environment) on \(base)"))
        }
    }

    /// Writes the secrets `names` (all when empty) of `source` into `target`, each with its env
    /// var, sealed under `target`'s key (or write-only to its public key), in one commit through
    /// the same write path as `import`. The caller must be a member of `source`. A value
    /// written without membership (`s:`) is not copied until a member adopts it.
    public func copy(_ names: [String], from source: String, to target: String,
                     allowingExecutionEnvVars: Bool = false) throws -> ImportResult {
        try Validation.environment(source)
        try Validation.environment(target)
        guard source != target else {
            throw AgentError.validation("to", "--from and --to name the same environment", type: "same_environment")
        }
        let (snapshot, key) = try readableSnapshot(source)
        let lines = try Self.select(names, from: snapshot.secrets(source), environment: source)
        if let sealed = lines.first(where: { $0.valueKind == .sealed }) {
            throw AgentError.validation("name", "secret '\(sealed.name)' of '\(source)' was written without membership (write-only); it is not copied unreviewed",
                                        type: "write_only_value", hint: "review it, then `agent adopt \(sealed.name) --env \(source)`")
        }
        let requests = try lines.map {
            WriteRequest(name: $0.name, envVar: $0.envVar, value: try key.open($0), allowsExecutionEnvVar: allowingExecutionEnvVars,
                         allowsEmpty: true)
        }
        guard !requests.isEmpty else {
            return ImportResult(environment: target, created: [], updated: [], unchanged: [], commit: nil, sealed: false)
        }
        let outcome = try write(requests, mode: .set, environment: target, message: .copy(from: source))
        let (created, updated, unchanged) = outcome.classified
        return ImportResult(environment: target, created: created, updated: updated, unchanged: unchanged,
                            commit: outcome.commit?.hex, sealed: outcome.sealed)
    }
}

extension StoreFormat {
    /// `.envagent/ENV/base`: the one line `base NAME` (docs/format.md, "The base file").
    public static func basePath(_ environment: String) -> String { "\(folder)/\(environment)/base" }
    static let baseKeyword = "base"

    static func baseFile(_ base: String) -> [UInt8] { Array("\(baseKeyword) \(base)\n".utf8) }

    /// The base a base file names. Anyone who can push writes this file: anything but exactly
    /// `base NAME` LF (NAME an environment name other than `environment`, not reserved), after
    /// optional `#` comment lines, is an error naming the file.
    static func parseBase(_ bytes: [UInt8], environment: String) throws -> String {
        func bad(_ why: String) -> AgentError {
            AgentError(.internalError, "\(basePath(environment)) is malformed: \(why)",
                       details: [.init(loc: [basePath(environment)], msg: why, type: "bad_base")],
                       hint: "fix it with `agent base NAME --env \(environment)` or `agent base --unset --env \(environment)`")
        }
        guard bytes.count <= 4096, let text = String(validating: bytes, as: UTF8.self) else { throw bad("not a short UTF-8 file") }
        guard text.hasSuffix("\n") else { throw bad("the last line does not end with a newline") }
        let lines = text.dropLast().split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.hasPrefix("#") }
        guard lines.count == 1 else { throw bad("expected exactly one line `base NAME`") }
        let fields = lines[0].split(separator: " ", omittingEmptySubsequences: false)
        guard fields.count == 2, fields[0] == baseKeyword else { throw bad("expected `base NAME`") }
        let base = String(fields[1])
        guard Validation.isValidName(base), !reservedNames.contains(base.lowercased()) else { throw bad("'\(base.prefix(140))' is not an environment name") }
        guard base != environment else { throw bad("an environment cannot be its own base") }
        return base
    }
}

extension StoreSnapshot {
    /// The base environment `environment` names, nil when it has no base file.
    public func base(of environment: String) throws -> String? {
        try file(StoreFormat.basePath(environment)).map { try StoreFormat.parseBase($0, environment: environment) }
    }
}
