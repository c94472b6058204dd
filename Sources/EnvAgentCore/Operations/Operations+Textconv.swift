/// Readable history: the `textconv` diff driver git runs on a secrets file (`.gitattributes`
/// `diff=envagent`, config `diff.envagent.textconv`), so `git diff` and `git log -p` compare
/// per-secret lines instead of ciphertext. Never a value: a reader who can open it sees the
/// masked form, anyone else `encrypted`.
///
/// Each secret becomes two lines, so git's line diff tells the kinds of change apart:
///
///     API_KEY = sk-pro••••789  (env var API_KEY, updated 2026-12-02T10:00:00Z)
///     API_KEY   sealed a:3f9a0c12
///
/// added / removed: both lines appear / disappear; value changed: both change (a new value has
/// a new update time); re-encrypted (a rotation, an adopt): only the `sealed` line changes.
extension Operations {
    /// The `.gitattributes` line that routes secrets files to the diff driver.
    public static let diffAttribute = "diff=envagent"

    /// Registers the diff driver in the repository config (`executable` is this agent binary)
    /// and, when the committed `.gitattributes` does not route store files to it yet (a store
    /// made before), adds the routing to this clone's `info/attributes` (nothing to commit).
    public func setupDiffDriver(executable: String) throws {
        let repository = store.repository
        try repository.setConfig("diff.envagent.textconv", "'\(executable)' textconv")
        let committed = (try? store.snapshot().file(".gitattributes")).flatMap { $0 } ?? []
        guard !String(decoding: committed, as: UTF8.self).contains(Self.diffAttribute) else { return }
        let info = repository.commonDirectory + "info"
        let path = info + "/attributes"
        var local = (try? FileIO.read(path)) ?? []
        guard !String(decoding: local, as: UTF8.self).contains(Self.diffAttribute) else { return }
        if let last = local.last, last != UInt8(ascii: "\n") { local.append(UInt8(ascii: "\n")) }
        local += Array("\(StoreFormat.folder)/*/secrets \(Self.diffAttribute)\n".utf8)
        try FileIO.makeDirectories(info, mode: 0o755)
        try FileIO.writeAtomically(path, bytes: local, mode: 0o644)
    }

    /// The text git diffs for the secrets file `bytes` (any version of any environment of this
    /// store). Values open with every key this identity ever held for an environment (its
    /// recipients files along HEAD's history), so a rotation shows as re-encryption only.
    public func textconv(_ bytes: [UInt8]) -> [UInt8] {
        let lines = SecretsFile.lines(in: bytes)
        guard !lines.isEmpty else { return [] }
        // HEAD's keys open every version written since the last rotation; the walk through
        // history (a tree lookup per commit) is only for older versions.
        let current = historicalKeys(commits: 1)
        let opensAll = lines.allSatisfy { line in !line.isWellFormed || current.contains { (try? $0.open(line)) != nil } }
        return Self.textconv(bytes, keys: opensAll ? current : historicalKeys())
    }

    /// The same text with only `keys` (none: names and `encrypted`, for a reader outside a store).
    public static func textconv(_ bytes: [UInt8], keys: [EnvironmentKey]) -> [UInt8] {
        let lines = SecretsFile.lines(in: bytes)
        var key: EnvironmentKey? // the environment's key that opened a line (then tried first)
        var out = ""
        for (number, line) in lines.enumerated() {
            guard line.isWellFormed, Validation.isValidEnvVar(line.envVar) else {
                out += "(line \(number + 1) is malformed)\n"
                continue
            }
            var shown = "encrypted"
            for candidate in (key.map { [$0] } ?? []) + keys {
                if let value = try? candidate.open(line) {
                    shown = Masking.mask(value)
                    key = candidate
                    break
                }
            }
            let kind = line.valueKind == .sealed ? "s" : "a"
            let fingerprint = (try? Crypto.hash(Array(line.sealedValue.utf8), length: 4))
                .map { $0.map { String($0, radix: 16).leftPadded(2) }.joined() } ?? "?"
            out += "\(line.name) = \(shown)  (env var \(line.envVar), updated \(line.updatedAt))\n"
            out += "\(line.name)   sealed \(kind):\(fingerprint)\n"
        }
        return Array(out.utf8)
    }

    /// Every environment key this identity can unwrap from any version of any recipients file
    /// along HEAD's history (the first `commits` of it; newest first); empty without an identity.
    public func historicalKeys(commits limit: Int = .max) -> [EnvironmentKey] {
        guard let identity = try? identitySource.load(), let snapshot = try? store.snapshot(),
              let header = try? snapshot.header(), let head = snapshot.commit,
              let environments = try? snapshot.environments() else { return [] }
        var seen: Set<ObjectID> = []
        var keys: [EnvironmentKey] = []
        var walked = 0
        try? store.repository.walk(from: head) { commit in
            walked += 1
            let tree = try commit.tree()
            for environment in environments {
                guard let id = try tree.entryID(at: StoreFormat.recipientsPath(environment)), seen.insert(id).inserted,
                      let file = try? RecipientsFile.parse(store.repository.blob(id), environment: environment) else { continue }
                // A version from before an upgrade wraps its key the older way.
                for format in Set([header.format, StoreFormat.oldestReadable]).sorted(by: >) {
                    if let key = try? EnvironmentKey.unwrap(from: file.recipients, identity: identity, storeID: header.storeID,
                                                            environment: environment, format: format) {
                        keys.append(key)
                        break
                    }
                }
            }
            return walked < limit
        }
        return keys
    }
}
