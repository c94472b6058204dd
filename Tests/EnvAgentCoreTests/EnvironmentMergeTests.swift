import Testing
@testable import EnvAgentCore

/// The key-level three-way merge of one environment's secrets (`EnvironmentMerge`), one table
/// row per shape of change. All three sides share one recipients file. A value equal to the
/// base's is the base's line byte for byte (as git gives it); any other value, or one listed in
/// `resealed`, is sealed afresh on its side (a new nonce, so a new ciphertext).
@Suite struct EnvironmentMergeTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var label: String
        var base: [String: String]
        var ours: [String: String]
        var theirs: [String: String]
        /// Secrets ours sealed again without changing their value (a rotation or an adoption).
        var resealed: Set<String> = []
        /// The merged secrets (name → value); nil when the merge must end in `conflicts`.
        var merged: [String: String]?
        var conflicts: [String] = []
        var testDescription: String { label }
    }

    static let cases: [Case] = [
        Case(label: "nothing changed",
             base: ["A": "1", "B": "2"], ours: ["A": "1", "B": "2"], theirs: ["A": "1", "B": "2"],
             merged: ["A": "1", "B": "2"]),
        Case(label: "only ours changed",
             base: ["A": "1", "B": "2"], ours: ["A": "9", "B": "2"], theirs: ["A": "1", "B": "2"],
             merged: ["A": "9", "B": "2"]),
        Case(label: "only theirs changed",
             base: ["A": "1", "B": "2"], ours: ["A": "1", "B": "2"], theirs: ["A": "1", "B": "8"],
             merged: ["A": "1", "B": "8"]),
        Case(label: "each side changed another secret",
             base: ["A": "1", "B": "2"], ours: ["A": "9", "B": "2"], theirs: ["A": "1", "B": "8"],
             merged: ["A": "9", "B": "8"]),
        Case(label: "both changed the same way",
             base: ["A": "1", "B": "2"], ours: ["A": "9", "B": "2"], theirs: ["A": "9", "B": "2"],
             merged: ["A": "9", "B": "2"]),
        Case(label: "both changed differently",
             base: ["A": "1", "B": "2"], ours: ["A": "9", "B": "2"], theirs: ["A": "8", "B": "2"],
             conflicts: ["A"]),
        Case(label: "both changed differently, another secret changed cleanly",
             base: ["A": "1", "B": "2", "C": "3"], ours: ["A": "9", "B": "7", "C": "3"], theirs: ["A": "8", "B": "7", "C": "5"],
             conflicts: ["A"]),
        Case(label: "two conflicts, in name order",
             base: ["A": "1", "B": "2"], ours: ["A": "9", "B": "7"], theirs: ["A": "8", "B": "6"],
             conflicts: ["A", "B"]),
        Case(label: "added on ours, theirs changed another",
             base: ["A": "1"], ours: ["A": "1", "C": "3"], theirs: ["A": "8"],
             merged: ["A": "8", "C": "3"]),
        Case(label: "added on theirs, ours changed another",
             base: ["A": "1"], ours: ["A": "9"], theirs: ["A": "1", "C": "3"],
             merged: ["A": "9", "C": "3"]),
        Case(label: "deleted on ours, theirs changed another",
             base: ["A": "1", "B": "2"], ours: ["B": "2"], theirs: ["A": "1", "B": "8"],
             merged: ["B": "8"]),
        Case(label: "deleted on theirs, ours changed another",
             base: ["A": "1", "B": "2"], ours: ["A": "1", "B": "7"], theirs: ["B": "2"],
             merged: ["B": "7"]),
        Case(label: "deleted on both, ours changed another",
             base: ["A": "1", "B": "2"], ours: ["B": "7"], theirs: ["B": "2"],
             merged: ["B": "7"]),
        Case(label: "deleted on ours while changed on theirs",
             base: ["A": "1", "B": "2"], ours: ["B": "2"], theirs: ["A": "8", "B": "2"],
             conflicts: ["A"]),
        Case(label: "changed on ours while deleted on theirs",
             base: ["A": "1", "B": "2"], ours: ["A": "9", "B": "2"], theirs: ["B": "2"],
             conflicts: ["A"]),
        Case(label: "added on both with the same value",
             base: ["A": "1"], ours: ["A": "1", "C": "3"], theirs: ["A": "1", "C": "3"],
             merged: ["A": "1", "C": "3"]),
        Case(label: "added on both with different values",
             base: ["A": "1"], ours: ["A": "1", "C": "3"], theirs: ["A": "1", "C": "4"],
             conflicts: ["C"]),
        Case(label: "resealed unchanged on ours, changed on theirs",
             base: ["A": "1", "B": "2"], ours: ["A": "1", "B": "2"], theirs: ["A": "8", "B": "2"],
             resealed: ["A", "B"], merged: ["A": "8", "B": "2"]),
    ]

    static let baseTime = "2026-01-01T00:00:00Z", oursTime = "2026-01-02T00:00:00Z", theirsTime = "2026-01-03T00:00:00Z"

    /// One member's environment: its key, the recipients file all sides share, the base's lines.
    struct Fixture {
        let identity: Identity
        let key: EnvironmentKey
        let recipients: [UInt8]

        init() throws {
            identity = try Identity.generate()
            key = try EnvironmentKey.generate(storeID: "store", environment: "dev")
            recipients = try key.recipientsFile(for: [(identity.publicKey, "alice@laptop")]).serialized()
        }

        func line(_ name: String, _ value: String, updatedAt: String) throws -> SecretLine {
            SecretLine(name: name, envVar: name, createdAt: EnvironmentMergeTests.baseTime, updatedAt: updatedAt,
                       sealedValue: try key.seal(secret(value), name: name, envVar: name))
        }

        /// A side's files: base lines where the value is the base's (and not resealed), fresh ones elsewhere.
        func files(_ values: [String: String], base: [String: SecretLine], baseValues: [String: String],
                   resealed: Set<String> = [], updatedAt: String) throws -> EnvironmentMerge.Files {
            let lines = try values.map { name, value in
                if baseValues[name] == value, !resealed.contains(name), let line = base[name] { return line }
                return try line(name, value, updatedAt: updatedAt)
            }
            return .init(recipients: recipients, secrets: SecretsFile(lines: lines).serialized())
        }

        /// The name → value map of a merged secrets file, every value opened with the key.
        func values(_ files: EnvironmentMerge.Files) throws -> [String: String] {
            #expect(files.recipients == recipients)
            let parsed = SecretsFile.parse(files.secrets ?? [])
            #expect(parsed.problems.isEmpty)
            return try Dictionary(uniqueKeysWithValues: parsed.lines.map { line in
                #expect(line.envVar == line.name)
                return (line.name, String(decoding: try key.open(line).bytes, as: UTF8.self))
            })
        }
    }

    func merge(_ c: Case, _ fixture: Fixture, decisions: [String: MergeDecision] = [:]) throws
        -> (EnvironmentMerge.Outcome, ours: SecretsFile, theirs: SecretsFile) {
        var baseLines: [String: SecretLine] = [:]
        for (name, value) in c.base { baseLines[name] = try fixture.line(name, value, updatedAt: Self.baseTime) }
        let base = EnvironmentMerge.Files(recipients: fixture.recipients, secrets: SecretsFile(lines: Array(baseLines.values)).serialized())
        let ours = try fixture.files(c.ours, base: baseLines, baseValues: c.base, resealed: c.resealed, updatedAt: Self.oursTime)
        let theirs = try fixture.files(c.theirs, base: baseLines, baseValues: c.base, updatedAt: Self.theirsTime)
        var merge = EnvironmentMerge(environment: "dev", storeID: "store", identity: fixture.identity,
                                     base: base, ours: ours, theirs: theirs, decisions: decisions)
        return (try merge.merge(), SecretsFile.parse(ours.secrets ?? []), SecretsFile.parse(theirs.secrets ?? []))
    }

    @Test(arguments: cases)
    func threeWay(_ c: Case) throws {
        let fixture = try Fixture()
        let (outcome, ours, theirs) = try merge(c, fixture)
        switch outcome {
        case .merged(let files):
            #expect(c.merged != nil, "expected conflicts \(c.conflicts)")
            #expect(try fixture.values(files) == c.merged)
        case .conflicts(let conflicts):
            #expect(c.merged == nil, "expected a merge, got conflicts")
            #expect(conflicts.map(\.name) == c.conflicts)
            for conflict in conflicts {
                // Each side's own line (nil where that side deleted the secret), and no special reason.
                #expect(conflict.ours == ours.line(named: conflict.name))
                #expect(conflict.theirs == theirs.line(named: conflict.name))
                #expect(conflict.reason == nil)
            }
        }
    }

    /// A decision (`agent resolve --ours/--theirs`) settles a conflict with that side's value.
    @Test(arguments: [(MergeDecision.ours, "9"), (.theirs, "8")])
    func decisionSettlesAConflict(_ decision: MergeDecision, _ value: String) throws {
        let c = Case(label: "both changed differently",
                     base: ["A": "1", "B": "2"], ours: ["A": "9", "B": "2"], theirs: ["A": "8", "B": "2"])
        let fixture = try Fixture()
        let (outcome, _, _) = try merge(c, fixture, decisions: ["A": decision])
        guard case .merged(let files) = outcome else {
            Issue.record("expected a merge, got \(outcome)")
            return
        }
        #expect(try fixture.values(files) == ["A": value, "B": "2"])
    }

    /// The environments allowed to build on this one (`base-for`) merge like members: kept
    /// when both sides have them, added when new on one side, gone when one side removed them;
    /// the merged file is signed again and keeps the other side's new member.
    @Test func baseForLinesMergeLikeMembers() throws {
        let fixture = try Fixture()
        let bob = try Identity.generate()
        func file(_ baseFor: [String], bob withBob: Bool = false) throws -> [UInt8] {
            var members: [(publicKey: [UInt8], label: String?)] = [(fixture.identity.publicKey, "alice@laptop")]
            if withBob { members.append((bob.publicKey, "bob")) }
            return try fixture.key.recipientsFile(for: members, baseFor: baseFor).serialized()
        }
        let secrets = SecretsFile(lines: []).serialized()
        var merge = EnvironmentMerge(environment: "dev", storeID: "store", identity: fixture.identity,
                                     base: .init(recipients: try file(["prod", "staging"]), secrets: secrets),
                                     ours: .init(recipients: try file(["ci", "prod"]), secrets: secrets),
                                     theirs: .init(recipients: try file(["prod", "qa", "staging"], bob: true), secrets: secrets))
        guard case .merged(let files) = try merge.merge() else {
            Issue.record("expected a merge")
            return
        }
        let merged = try RecipientsFile.parse(try #require(files.recipients), environment: "dev")
        #expect(merged.baseFor == ["ci", "prod", "qa"])
        #expect(merged.member(bob.publicKey) != nil)
        #expect(merged.hasValidSignature(storeID: "store", environment: "dev"))
    }

    /// Both sides added the same value under one name: the later write's line is kept.
    @Test func sameValueOnBothSidesKeepsTheLaterLine() throws {
        let c = Case(label: "added on both", base: ["A": "1"], ours: ["A": "1", "C": "3"], theirs: ["A": "1", "C": "3"])
        let fixture = try Fixture()
        let (outcome, _, theirs) = try merge(c, fixture)
        guard case .merged(let files) = outcome else {
            Issue.record("expected a merge, got \(outcome)")
            return
        }
        #expect(SecretsFile.parse(files.secrets ?? []).line(named: "C") == theirs.line(named: "C"))
        #expect(theirs.line(named: "C")?.updatedAt == Self.theirsTime)
    }
}
