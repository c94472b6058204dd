/// Which side wins a conflicting secret (`agent resolve --ours/--theirs`).
public enum MergeDecision: String, Codable, Sendable { case ours, theirs }

/// Key-level three-way merge of one environment (its recipients and secrets files) against
/// the merge base.
///
/// - A secret changed on one side only takes that side; added or deleted on one side is applied.
/// - Changed on both sides to ciphertexts of the same plaintext (and env var) is not a conflict
///   (decrypted to compare when the identity can open both sides).
/// - A re-encryption without a value change (a rotation, an adoption) counts as
///   unchanged, so a rotation on one side and a new value on the other merge to the new value.
/// - Recipients changed on one side take that side; changed on both sides, the member sets are
///   merged (a removal on either side wins) and, unless both sides still share one key and
///   nobody was removed, a fresh key is generated for the merged set.
/// - Every value of the result is sealed under the result's key (re-encrypted when it came from
///   a side with another key; a write-only value stays one, sealed to the result's public key).
/// - Two secrets of the result mapped to one env var (each side mapped it to another name) are
///   a conflict of both; a result line that breaks a read rule (`SecretsFile.problems`) is an error.
/// Anything else is a conflict, never resolved silently, unless `decisions` names a side.
struct EnvironmentMerge {
    /// An environment's two files at one commit (nil when absent).
    struct Files: Equatable {
        var recipients: [UInt8]?
        var secrets: [UInt8]?
    }

    enum Side: Int, CaseIterable { case base, ours, theirs }

    typealias Decision = MergeDecision

    struct Conflict: Equatable {
        var name: String
        var ours: SecretLine?
        var theirs: SecretLine?
        /// Why, when it is not a change on both sides: the env var the result would give two
        /// secrets, or a line sealed to a key the other side replaced.
        var reason: String?
    }

    static let staleKeyReason = "sealed to the key a rotation on the other side replaced, which your identity cannot open"

    let environment: String
    let storeID: String
    let identity: Identity?
    let files: [Side: Files]
    var decisions: [String: Decision] = [:]

    private var keys: [Side: EnvironmentKey?] = [:]
    private var recipientsFiles: [Side: RecipientsFile?] = [:]

    init(environment: String, storeID: String, identity: Identity?, base: Files, ours: Files, theirs: Files,
         decisions: [String: Decision] = [:]) {
        self.environment = environment
        self.storeID = storeID
        self.identity = identity
        self.files = [.base: base, .ours: ours, .theirs: theirs]
        self.decisions = decisions
    }

    /// The environment key of a side, nil when this identity cannot open it.
    mutating func key(_ side: Side) -> EnvironmentKey? {
        if let cached = keys[side] { return cached }
        var key: EnvironmentKey?
        if let identity, let file = recipientsFile(side) {
            // An unsigned file is format 1: its values carry format 1's associated data.
            key = try? EnvironmentKey.unwrap(from: file.recipients, identity: identity, storeID: storeID,
                                             environment: environment, format: file.isSigned ? StoreFormat.version : 1)
        }
        keys[side] = .some(key)
        return key
    }

    /// The public signing key of a side's recipients file (nil when unsigned or absent).
    mutating func signingKey(_ side: Side) -> [UInt8]? { recipientsFile(side)?.signingKey }

    /// A side's recipients file, parsed once (nil when absent or malformed).
    private mutating func recipientsFile(_ side: Side) -> RecipientsFile? {
        if let cached = recipientsFiles[side] { return cached }
        let file = files[side]?.recipients.flatMap { try? RecipientsFile.parse($0, environment: environment) }
        recipientsFiles[side] = .some(file)
        return file
    }

    enum Outcome {
        case merged(Files)
        case conflicts([Conflict])
    }

    /// The merged files, or the conflicting secrets.
    mutating func merge() throws -> Outcome {
        let base = files[.base]!, ours = files[.ours]!, theirs = files[.theirs]!
        if ours == theirs || theirs == base { return .merged(ours) }
        if ours == base { return .merged(theirs) }
        let (recipients, resultKey, resultSide) = try mergeRecipients()
        var lines: [SecretLine] = []
        var conflicts: [Conflict] = []
        let parsed = Dictionary(uniqueKeysWithValues: Side.allCases.map { side in
            (side, SecretsFile.parse(files[side]!.secrets ?? []))
        })
        var names = Set<String>()
        for side in Side.allCases { names.formUnion(parsed[side]!.lines.map(\.name)) }
        for name in names.sorted(by: SecretsFile.precedes) {
            let b = parsed[.base]!.line(named: name), o = parsed[.ours]!.line(named: name), t = parsed[.theirs]!.line(named: name)
            let chosen: (line: SecretLine?, side: Side)
            let oursChanged = changed(o, .ours, from: b), theirsChanged = changed(t, .theirs, from: b)
            switch (oursChanged, theirsChanged) {
            case _ where decisions[name] != nil: // also an env var clash of a secret changed on one side
                chosen = decisions[name] == .ours ? (o, .ours) : (t, .theirs)
            case (false, false): chosen = (o, .ours)
            case (true, false): chosen = (o, .ours)
            case (false, true): chosen = (t, .theirs)
            case (true, true):
                if o == nil && t == nil {
                    chosen = (nil, .ours)
                } else if let o, let t, o.envVar == t.envVar, equivalent(o, .ours, t, .theirs) {
                    chosen = t.updatedAt > o.updatedAt ? (t, .theirs) : (o, .ours)
                } else {
                    conflicts.append(Conflict(name: name, ours: o, theirs: t))
                    continue
                }
            }
            guard let line = chosen.line else { continue }
            guard let sealed = try reencrypted(line, from: chosen.side, to: resultKey, resultSide: resultSide) else {
                // Only a member can move this line to the other side's new key: a decision ends it.
                guard decisions[name] == nil else {
                    throw AgentError(.mergeConflict, "secret '\(name)' in environment '\(environment)' cannot be kept from \(chosen.side == .ours ? "this" : "the other") side: it is sealed to a key the other side replaced, and your identity cannot open it",
                                     details: [.init(loc: [environment, name], msg: "sealed to a replaced key", type: "merge_conflict")],
                                     hint: "`agent resolve \(name) --env \(environment) --\(chosen.side == .ours ? "theirs" : "ours")`, then write the value again after the sync")
                }
                conflicts.append(Conflict(name: name, ours: o, theirs: t, reason: Self.staleKeyReason))
                continue
            }
            lines.append(sealed)
        }
        conflicts += try envVarClashes(in: lines, parsed)
        guard conflicts.isEmpty else { return .conflicts(conflicts) }
        let result = SecretsFile(lines: lines)
        let problems = result.problems
        guard problems.isEmpty else { throw SecretsFile.unreadable(problems, environment: environment) }
        return .merged(Files(recipients: recipients, secrets: result.serialized()))
    }

    /// The secrets of `lines` that share an env var with another, as conflicts (each side's
    /// line from `parsed`), so `resolve` can keep one side of each. A clash between secrets
    /// that all have decisions is an error: those decisions must change.
    private func envVarClashes(in lines: [SecretLine], _ parsed: [Side: SecretsFile]) throws -> [Conflict] {
        var owners: [String: [String]] = [:]
        for line in lines where line.isWellFormed { owners[line.envVar, default: []].append(line.name) }
        var conflicts: [Conflict] = []
        for (envVar, names) in owners.sorted(by: { $0.key < $1.key }) where names.count > 1 {
            let undecided = names.filter { decisions[$0] == nil }
            guard !undecided.isEmpty else {
                throw AgentError(.mergeConflict, "the decisions for \(names.map { "'\($0)'" }.joined(separator: " and ")) in environment '\(environment)' keep all of them mapped to env var \(envVar)",
                                 details: names.map { .init(loc: [environment, $0], msg: "env var \(envVar) twice", type: "merge_conflict") },
                                 hint: "keep one: `agent resolve NAME --env \(environment) --ours` (or --theirs) for the side without it")
            }
            for name in undecided {
                let others = names.filter { $0 != name }.map { "'\($0)'" }.joined(separator: ", ")
                conflicts.append(Conflict(name: name, ours: parsed[.ours]!.line(named: name), theirs: parsed[.theirs]!.line(named: name),
                                          reason: "maps env var \(envVar), as \(others) does in the merged result"))
            }
        }
        return conflicts
    }

    /// The merged recipients file, its key (nil when this identity cannot open it), and the side
    /// whose key it is (nil for a fresh key).
    private mutating func mergeRecipients() throws -> ([UInt8]?, EnvironmentKey?, Side?) {
        let base = files[.base]!.recipients, ours = files[.ours]!.recipients, theirs = files[.theirs]!.recipients
        if ours == theirs || theirs == base { return (ours, key(.ours), .ours) }
        if ours == base { return (theirs, key(.theirs), .theirs) }
        guard let oursKey = key(.ours), let theirsKey = key(.theirs) else {
            throw AgentError(.mergeConflict, "the recipients of environment '\(environment)' changed on both sides, and your identity cannot open both",
                             details: [.init(loc: [environment, "recipients"], msg: "changed on both sides", type: "merge_conflict")],
                             hint: "a member of both versions must run the sync")
        }
        func parsed(_ bytes: [UInt8]?) throws -> RecipientsFile? { try bytes.map { try RecipientsFile.parse($0, environment: environment) } }
        let f0 = try parsed(base), f1 = try parsed(ours), f2 = try parsed(theirs)
        let m0 = f0?.recipients ?? [], m1 = f1?.recipients ?? [], m2 = f2?.recipients ?? []
        // Environments allowed to build on this one: kept when both sides have them, or new on one.
        let b0 = Set(f0?.baseFor ?? []), b1 = Set(f1?.baseFor ?? []), b2 = Set(f2?.baseFor ?? [])
        let baseFor = Array(b1.intersection(b2).union(b1.subtracting(b0)).union(b2.subtracting(b0)))
        func contains(_ set: [Recipient], _ r: Recipient) -> Bool { set.contains { Crypto.equal($0.publicKey, r.publicKey) } }
        var merged: [Recipient] = []
        for r in m1 + m2 where !contains(merged, r) {
            let inBase = contains(m0, r)
            // Kept when both sides have it, or when it is new on the side that has it.
            if (contains(m1, r) && contains(m2, r)) || !inBase { merged.append(r) }
        }
        guard !merged.isEmpty else {
            throw AgentError(.mergeConflict, "merging the recipients of environment '\(environment)' would leave nobody",
                             details: [.init(loc: [environment, "recipients"], msg: "no recipient left", type: "merge_conflict")])
        }
        // Both sides' endorsement chains, so clones that accepted either side's key keep trusting.
        var endorsements: [Endorsement] = []
        func add(_ endorsement: Endorsement) { // one line per endorser and endorsed key
            if !endorsements.contains(where: { $0.endorser == endorsement.endorser && $0.endorsed == endorsement.endorsed }) {
                endorsements.append(endorsement)
            }
        }
        (recipientsFile(.ours)?.endorsements ?? []).forEach(add)
        (recipientsFile(.theirs)?.endorsements ?? []).forEach(add)
        let removed = m0.contains { !contains(merged, $0) }
        if !removed, oursKey.isSameKey(as: theirsKey) {
            let file = try oursKey.signed(RecipientsFile(publicKey: nil, recipients: merged, baseFor: baseFor, endorsements: endorsements))
            return (file.serialized(), oursKey, .ours)
        }
        // A fresh key, vouched for by both sides' keys.
        let fresh = try EnvironmentKey.generate(storeID: storeID, environment: environment)
        add(try oursKey.endorsement(of: fresh))
        add(try theirsKey.endorsement(of: fresh))
        let file = try fresh.recipientsFile(for: merged.map { ($0.publicKey, $0.label) }, baseFor: baseFor, endorsements: endorsements)
        return (file.serialized(), fresh, nil)
    }

    /// Whether `line` (on `side`) differs from the base's line in value or env var.
    private mutating func changed(_ line: SecretLine?, _ side: Side, from base: SecretLine?) -> Bool {
        switch (line, base) {
        case (nil, nil): return false
        case (nil, _), (_, nil): return true
        case let (line?, base?):
            if line.raw == base.raw { return false }
            return line.envVar != base.envVar || !equivalent(line, side, base, .base)
        }
    }

    /// Same plaintext: the same ciphertext, or both open (with their sides' keys) to equal bytes.
    private mutating func equivalent(_ a: SecretLine, _ sideA: Side, _ b: SecretLine, _ sideB: Side) -> Bool {
        if a.sealedValue == b.sealedValue { return true }
        guard let keyA = key(sideA), let keyB = key(sideB),
              let plainA = try? keyA.open(a), let plainB = try? keyB.open(b) else { return false }
        return plainA.matches(plainB)
    }

    /// `line` sealed under the result key: unchanged when it came from a side with that key,
    /// else opened with its side's key and sealed again; nil when this identity cannot do that.
    private mutating func reencrypted(_ line: SecretLine, from side: Side, to resultKey: EnvironmentKey?,
                                      resultSide: Side?) throws -> SecretLine? {
        if let resultSide, side == resultSide { return line }
        // One signing key means one environment key (it is derived from it, and only its holders
        // sign): a write-only writer needs no key to keep its own lines.
        if let resultSide, let own = signingKey(side), let target = signingKey(resultSide), Crypto.equal(own, target) {
            return line
        }
        if let resultSide, let own = key(side), let target = key(resultSide), own.isSameKey(as: target), own.format == target.format {
            return line
        }
        guard let resultKey, let own = key(side) else { return nil }
        let value = try own.open(line)
        let sealed = line.valueKind == .sealed
            ? try resultKey.publicKey.seal(value, name: line.name, envVar: line.envVar) // still marked as written without membership
            : try resultKey.seal(value, name: line.name, envVar: line.envVar)
        return SecretLine(name: line.name, envVar: line.envVar, createdAt: line.createdAt, updatedAt: line.updatedAt,
                          sealedValue: sealed)
    }
}
