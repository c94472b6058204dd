import Foundation
import Testing
@testable import EnvAgentCore

/// Everything in the repository is input: hand-edited secrets lines, write-only values mapped
/// to execution env vars, and write-only values that keep their mark until a member adopts
/// them. Real temp repositories, real libsodium.
@Suite struct UntrustedStoreTests {
    let dir = TempDirectory("untrusted")
    let aliceSource: IdentitySource, alice: Identity
    let path: String
    let asAlice: Operations

    init() throws {
        (aliceSource, alice) = try makeIdentitySource(in: dir, name: "alice")
        (asAlice, path) = try newStore(in: dir, source: aliceSource)
        asAlice.store.packing = .manual // no packing between a test's commits
    }

    /// No identity at all: a write-only contributor.
    var asStranger: Operations {
        get throws {
            Operations(store: try Store.open(path: path), identitySource: IdentitySource(
                environmentText: nil, environmentFile: nil, flagFile: nil, defaultFile: dir.file("no-identity")))
        }
    }

    var head: ObjectID? { get throws { try asAlice.store.snapshot().commit } }

    /// The lines of `environment`'s secrets file as they are.
    func lines(_ environment: String = "dev") throws -> [String] {
        let bytes = try asAlice.store.snapshot().file(StoreFormat.secretsPath(environment)) ?? []
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    /// Rewrites `environment`'s secrets file with `edit` (on its lines), as one commit of
    /// someone who can push.
    func handEdit(_ environment: String = "dev", _ edit: (inout [String]) -> Void) throws {
        var lines = try lines(environment)
        edit(&lines)
        try asAlice.store.apply { _ in
            StoreChange(files: [StoreFormat.secretsPath(environment): Array((lines.joined(separator: "\n") + "\n").utf8)],
                        message: "hand edit")
        }
    }

    /// Sets field `index` (1: ENV_VAR) of `name`'s line.
    func setField(_ index: Int, of name: String, to text: String) throws {
        try handEdit { lines in
            for i in lines.indices where lines[i].hasPrefix(name + " ") {
                var fields = lines[i].split(separator: " ", omittingEmptySubsequences: false).map(String.init)
                fields[index] = text
                lines[i] = fields.joined(separator: " ")
            }
        }
    }

    /// Every way the store's secrets are read (and written on top of), each expected to fail
    /// naming `name` with `type`.
    func expectEveryReadRefuses(_ name: String, type: String, environment: String = "dev",
                                sourceLocation: SourceLocation = #_sourceLocation) throws {
        let reads: [(String, () throws -> Void)] = [
            ("get", { _ = try asAlice.get(name: "A", environment: environment) }),
            ("reveal", { _ = try asAlice.reveal(name: "A", environment: environment) }),
            ("list", { _ = try asAlice.list(environment: environment) }),
            ("render env", { _ = try asAlice.render(names: [], environment: environment, format: .env) }),
            ("render sh", { _ = try asAlice.render(names: [], environment: environment, format: .sh) }),
            ("render named", { _ = try asAlice.render(names: ["A"], environment: environment, format: .json) }),
            ("entries", { _ = try asAlice.entries(names: [], environment: environment) }),
            ("set", { _ = try asAlice.set(.init(name: "A", value: secret("another-a")), environment: environment) }),
            ("import", { _ = try asAlice.importDotEnv(Array("NEW=new-value\n".utf8), environment: environment) }),
            ("write-only set", { _ = try asStranger.set(.init(name: "A", value: secret("w")), environment: environment) }),
            ("rotate", { _ = try asAlice.rotate(.one(environment)) }),
            ("adopt", { _ = try asAlice.adoptAll(environment: environment) }),
            ("scan", { _ = try asAlice.leakScanner() }),
        ]
        let before = try head
        for (read, attempt) in reads {
            let error = #expect(throws: AgentError.self, "\(read)", sourceLocation: sourceLocation) { try attempt() }
            #expect(error?.kind == .internalError, "\(read)", sourceLocation: sourceLocation)
            #expect(error?.details.contains { $0.loc == [environment, name] && $0.type == type } == true,
                    "\(read): \(String(describing: error?.details))", sourceLocation: sourceLocation)
            #expect(error?.message.contains("secret '\(name)' in environment '\(environment)'") == true, "\(read)",
                    sourceLocation: sourceLocation)
        }
        #expect(try head == before, "a refused read wrote something", sourceLocation: sourceLocation)
    }

    func seed() throws {
        _ = try asAlice.set(.init(name: "A", value: secret("value-of-a-0000")), environment: "dev")
        _ = try asAlice.set(.init(name: "B", value: secret("value-of-b-1111")), environment: "dev")
    }

    @Test func handEditedEnvVarStopsEveryReadAndVerifyListsIt() throws {
        try seed()
        let original = try lines()
        for envVar in ["X=$(touch${IFS}/tmp/pwned);Y", "X=$(touch /tmp/pwned);Y", "1B", "B-C", ""] {
            try setField(1, of: "B", to: envVar)
            try expectEveryReadRefuses("B", type: "bad_line")
            #expect(try asAlice.environments().map(\.secretCount) == [2]) // only counted
            let problems = try asAlice.verify(.one("dev"))[0].problems
            #expect(problems.map(\.type) == ["bad_line"] && problems.map(\.name) == ["B"], "\(envVar)")
            #expect(problems.first?.commit == (try head)?.hex)
            try handEdit { $0 = original }
            #expect(try asAlice.render(names: [], environment: "dev", format: .sh).utf8String
                    == "export A='value-of-a-0000'\nexport B='value-of-b-1111'\n")
        }
        // A bad NAME (only a revert removes it: `delete` takes valid names).
        try handEdit { lines in
            var fields = lines[0].split(separator: " ").map(String.init)
            fields[0] = "C=1"; fields[1] = "C"
            lines.append(fields.joined(separator: " "))
        }
        try expectEveryReadRefuses("C=1", type: "bad_line")
        try handEdit { $0 = original }
        // `delete` removes a line that breaks the rules.
        try setField(1, of: "B", to: "B=1")
        try asAlice.delete(name: "B", environment: "dev")
        #expect(try asAlice.verify(.one("dev"))[0].problems.isEmpty)
        #expect(try asAlice.list(environment: "dev").map(\.name) == ["A"])
    }

    @Test func duplicateNamesAndEnvVarsAreRefused() throws {
        try seed()
        try handEdit { $0.append($0[1]) } // B twice
        try expectEveryReadRefuses("B", type: "duplicate_name")
        #expect(try asAlice.verify(.one("dev"))[0].problems.map(\.type) == ["duplicate_name"])
        try asAlice.delete(name: "B", environment: "dev") // both lines go
        #expect(try asAlice.list(environment: "dev").map(\.name) == ["A"])

        _ = try asAlice.set(.init(name: "B", value: secret("value-of-b-1111")), environment: "dev")
        try setField(1, of: "B", to: "A")
        try expectEveryReadRefuses("B", type: "duplicate_env_var")
        let error = #expect(throws: AgentError.self) { try asAlice.entries(names: ["A"], environment: "dev") }
        #expect(error?.message.contains("'B'") == true && error?.message.contains("'A'") == true)
        let problem = try #require(try asAlice.verify(.one("dev"))[0].problems.first)
        #expect(problem.type == "duplicate_env_var" && problem.name == "B" && problem.problem.contains("'A'"))
    }

    /// A large render (opened on every core) refuses a bad line anywhere, and an env var on two
    /// lines far apart.
    @Test func largeRenderRefusesABadLineAnywhere() throws {
        let text = (0..<3000).map { "K\(String(format: "%04d", $0))=value-\($0)-abcdefghijklmnop\n" }.joined()
        _ = try asAlice.importDotEnv(Array(text.utf8), environment: "dev")
        let good = try asAlice.render(names: [], environment: "dev", format: .sh)
        #expect(good.utf8String.hasPrefix("export K0000='value-0-abcdefghijklmnop'\n"))

        try setField(1, of: "K1500", to: "X=$(id);Y")
        let bad = #expect(throws: AgentError.self) { try asAlice.render(names: [], environment: "dev", format: .sh) }
        #expect(bad?.details.map(\.loc) == [["dev", "K1500"]] && bad?.details.first?.type == "bad_line")

        try setField(1, of: "K1500", to: "K0007")
        let duplicate = #expect(throws: AgentError.self) { try asAlice.render(names: [], environment: "dev", format: .env) }
        #expect(duplicate?.details.map(\.type) == ["duplicate_env_var"])
        #expect(duplicate?.message.contains("'K1500'") == true && duplicate?.message.contains("'K0007'") == true)
    }

    @Test func writeOnlyWritersCannotMapExecutionEnvVars() throws {
        try seed()
        let stranger = try asStranger
        let before = try head
        for (name, envVar) in [("TOOLS", "PATH"), ("HOOK", "LD_PRELOAD"), ("OPTS", "NODE_OPTIONS"), ("PATH", nil), ("GIT_SSH_COMMAND", nil)] {
            let error = #expect(throws: AgentError.self) {
                try stranger.create(.init(name: name, envVar: envVar, value: secret("/tmp/evil"), allowsExecutionEnvVar: true), environment: "dev")
            }
            #expect(error?.kind == .validationError && error?.details.first?.type == "restricted_env_var", "\(name)")
            #expect(error?.details.first?.loc == ["env_var"])
            #expect(error?.message.contains(envVar ?? name) == true && error?.message.contains("/tmp/evil") == false)
        }
        let imported = #expect(throws: AgentError.self) {
            try stranger.importDotEnv(Array("LD_PRELOAD=/tmp/evil.so\n".utf8), environment: "dev", allowingExecutionEnvVars: true)
        }
        #expect(imported?.details.first?.type == "restricted_env_var")
        #expect(try head == before)

        // A member maps one only explicitly; then a write-only update of it is still refused.
        let implicit = #expect(throws: AgentError.self) { try asAlice.create(.init(name: "TOOLS", envVar: "PATH", value: secret("/opt/bin")), environment: "dev") }
        #expect(implicit?.details.first?.type == "restricted_env_var" && implicit?.hint?.contains("--allow-exec-env-var") == true)
        #expect(try head == before)
        let tools = try asAlice.create(.init(name: "TOOLS", envVar: "PATH", value: secret("/opt/bin"), allowsExecutionEnvVar: true), environment: "dev")
        #expect(tools.metadata.envVar == "PATH" && !tools.metadata.writeOnly)
        _ = try asAlice.update(.init(name: "TOOLS", value: secret("/opt/bin:/usr/bin")), environment: "dev") // already mapped
        let overwrite = #expect(throws: AgentError.self) { try stranger.update(.init(name: "TOOLS", value: secret("/tmp")), environment: "dev") }
        #expect(overwrite?.details.first?.type == "restricted_env_var")
        #expect((#expect(throws: AgentError.self) {
            try asAlice.update(.init(name: "A", envVar: "LD_AUDIT", value: secret("x")), environment: "dev")
        })?.details.first?.type == "restricted_env_var")
        #expect((#expect(throws: AgentError.self) {
            try asAlice.importDotEnv(Array("NODE_OPTIONS=--require x\n".utf8), environment: "dev")
        })?.details.first?.type == "restricted_env_var")
        _ = try asAlice.importDotEnv(Array("NODE_OPTIONS=--max-old-space-size=4096\n".utf8), environment: "dev", allowingExecutionEnvVars: true)
        // Members' mappings are read like any other.
        let entries = try asAlice.entries(names: ["TOOLS", "NODE_OPTIONS"], environment: "dev")
        #expect(entries.map(\.envVar) == ["PATH", "NODE_OPTIONS"] && entries[0].value.utf8String == "/opt/bin:/usr/bin")
        #expect(try asAlice.verify(.one("dev"))[0].problems.isEmpty)
    }

    @Test func writeOnlyValueHandEditedOntoLDPreloadIsRefused() throws {
        try seed()
        _ = try asStranger.create(.init(name: "INJECT", envVar: "SAFE_INJECT", value: secret("/tmp/evil.so")), environment: "dev")
        try setField(1, of: "INJECT", to: "LD_PRELOAD")
        try expectEveryReadRefuses("INJECT", type: "restricted_env_var")
        let problems = try asAlice.verify(.one("dev"))[0].problems
        #expect(problems.map(\.type) == ["restricted_env_var"] && problems[0].problem.contains("LD_PRELOAD"))
        // The same mapping on a member's line is accepted.
        try asAlice.delete(name: "INJECT", environment: "dev")
        _ = try asAlice.set(.init(name: "INJECT", envVar: "LD_PRELOAD", value: secret("/usr/lib/libjemalloc.so"), allowsExecutionEnvVar: true),
                            environment: "dev")
        #expect(try asAlice.entries(names: ["INJECT"], environment: "dev")[0].envVar == "LD_PRELOAD")
    }

    @Test func writeOnlyValuesKeepTheirMarkUntilAdopted() throws {
        try seed()
        let stranger = try asStranger
        let written = try stranger.update(.init(name: "A", value: secret("from-a-contractor")), environment: "dev")
        #expect(written.sealed && written.metadata.writeOnly)
        func writeOnly() throws -> [String: Bool] {
            Dictionary(uniqueKeysWithValues: try asAlice.list(environment: "dev").map { ($0.name, $0.writeOnly) })
        }
        #expect(try writeOnly() == ["A": true, "B": false])
        #expect(try stranger.list(environment: "dev").map(\.writeOnly) == [true, false])
        #expect(try asAlice.get(name: "A", environment: "dev").writeOnly)
        let sealedLine = try #require(try asAlice.store.snapshot().secrets("dev").line(named: "A"))

        // A member's unrelated writes leave it byte for byte.
        _ = try asAlice.update(.init(name: "B", value: secret("value-of-b-2222")), environment: "dev")
        _ = try asAlice.importDotEnv(Array("C=value-of-c\nB=value-of-b-3333\n".utf8), environment: "dev")
        #expect(try asAlice.store.snapshot().secrets("dev").line(named: "A") == sealedLine)

        // Rotation re-seals it to the new public key: still write-only, still readable.
        _ = try asAlice.rotate(.one("dev"))
        let rotated = try #require(try asAlice.store.snapshot().secrets("dev").line(named: "A"))
        #expect(rotated.valueKind == .sealed && rotated != sealedLine)
        #expect(try asAlice.reveal(name: "A", environment: "dev").utf8String == "from-a-contractor")
        #expect(try asAlice.verify(.one("dev"))[0].problems.isEmpty)
        #expect(try asAlice.verify(.one("dev"))[0].writeOnlyValues == 1)

        // adopt: members only, named write-only values only, one commit.
        #expect((#expect(throws: AgentError.self) { try stranger.adopt(names: ["A"], environment: "dev") })?.kind == .forbidden)
        let notWriteOnly = #expect(throws: AgentError.self) { try asAlice.adopt(names: ["A", "B"], environment: "dev") }
        #expect(notWriteOnly?.kind == .validationError && notWriteOnly?.details.first?.type == "not_write_only")
        #expect(notWriteOnly?.message.contains("'B'") == true)
        #expect((#expect(throws: AgentError.self) { try asAlice.adopt(names: ["NOPE"], environment: "dev") })?.kind == .notFound)
        let before = try head
        let adopted = try asAlice.adopt(names: ["A"], environment: "dev")
        #expect(adopted.adopted == ["A"] && adopted.commit != nil && adopted.commit != before?.hex)
        let commit = try asAlice.store.repository.commit(try #require(try head))
        #expect(commit.summary == "adopt A (dev)")
        let line = try #require(try asAlice.store.snapshot().secrets("dev").line(named: "A"))
        #expect(line.valueKind == .aead && line.envVar == rotated.envVar && line.updatedAt == rotated.updatedAt)
        #expect(try writeOnly() == ["A": false, "B": false, "C": false])
        #expect(try asAlice.reveal(name: "A", environment: "dev").utf8String == "from-a-contractor")

        // --all: every write-only value in one commit; none left is no commit.
        _ = try stranger.update(.init(name: "B", value: secret("sealed-b")), environment: "dev")
        _ = try stranger.update(.init(name: "C", value: secret("sealed-c")), environment: "dev")
        #expect(try asAlice.adoptAll(environment: "dev").adopted == ["B", "C"])
        #expect(try writeOnly().values.allSatisfy { !$0 })
        let idle = try head
        #expect(try asAlice.adoptAll(environment: "dev") == Operations.AdoptResult(environment: "dev", adopted: [], commit: nil))
        #expect(try head == idle)
    }

    /// Two sides mapping one env var to two secrets: both are conflicts; a decision keeps one.
    @Test func mergeReportsAnEnvVarOnTwoSecretsAsConflicts() throws {
        try seed()
        let snapshot = { try self.asAlice.store.snapshot() }
        func files() throws -> EnvironmentMerge.Files {
            .init(recipients: try snapshot().file(StoreFormat.recipientsPath("dev")), secrets: try snapshot().file(StoreFormat.secretsPath("dev")))
        }
        let base = try files()
        _ = try asAlice.set(.init(name: "OURS", envVar: "SHARED", value: secret("ours-value")), environment: "dev")
        let ours = try files()
        try asAlice.delete(name: "OURS", environment: "dev")
        _ = try asAlice.set(.init(name: "THEIRS", envVar: "SHARED", value: secret("theirs-value")), environment: "dev")
        let theirs = try files()
        let header = try snapshot().requireHeader()
        func merge(_ decisions: [String: MergeDecision]) throws -> EnvironmentMerge.Outcome {
            var merge = EnvironmentMerge(environment: "dev", storeID: header.storeID, identity: alice, base: base, ours: ours,
                                         theirs: theirs, decisions: decisions)
            return try merge.merge()
        }
        guard case .conflicts(let conflicts) = try merge([:]) else { Issue.record("merged an env var onto two secrets"); return }
        #expect(conflicts.map(\.name) == ["OURS", "THEIRS"])
        #expect(conflicts.allSatisfy { $0.reason?.contains("SHARED") == true })
        #expect(conflicts[0].ours != nil && conflicts[0].theirs == nil && conflicts[1].theirs != nil)
        // Keep theirs: OURS --theirs (absent there), THEIRS --theirs.
        guard case .merged(let result) = try merge(["OURS": .theirs, "THEIRS": .theirs]) else { Issue.record("not merged"); return }
        #expect(SecretsFile.parse(result.secrets ?? []).lines.map(\.name) == ["A", "B", "THEIRS"])
        // Decisions that keep both are refused, not written.
        let both = #expect(throws: AgentError.self) { try merge(["OURS": .ours, "THEIRS": .theirs]) }
        #expect(both?.kind == .mergeConflict && both?.message.contains("SHARED") == true)
    }
}
