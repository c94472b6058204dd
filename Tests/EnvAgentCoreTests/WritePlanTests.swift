import Testing
@testable import EnvAgentCore

/// `WritePlan`, the decision every write shares, checked without a store: a table of requests
/// against one environment holding `API_KEY` (env var `API_KEY`, value "old") and `DB_URL`
/// (env var `DATABASE_URL`, value "postgres://x").
@Suite struct WritePlanTests {
    static let key = try! EnvironmentKey.generate(storeID: "store-1", environment: "dev")

    static func current() throws -> SecretsFile {
        let now = "2026-01-01T00:00:00Z"
        func line(_ name: String, _ envVar: String, _ value: String) throws -> SecretLine {
            SecretLine(name: name, envVar: envVar, createdAt: now, updatedAt: now,
                       sealedValue: try key.seal(SecretBytes(Array(value.utf8)), name: name, envVar: envVar))
        }
        return SecretsFile(lines: [try line("API_KEY", "API_KEY", "old"), try line("DB_URL", "DATABASE_URL", "postgres://x")])
    }

    static func request(_ name: String, _ value: String, envVar: String? = nil, consent: Bool = false) -> Operations.WriteRequest {
        .init(name: name, envVar: envVar, value: SecretBytes(Array(value.utf8)), allowsExecutionEnvVar: consent)
    }

    static func plan(_ requests: [Operations.WriteRequest], mode: Operations.WriteMode = .set, deleting: [String] = [],
                     writeOnly: Bool = false) throws -> WritePlan {
        let access: Operations.Access = writeOnly ? .writeOnly(key.publicKey) : .member(key)
        return try WritePlan(requests, mode: mode, deleting: deleting, environment: "dev", current: current(),
                             access: access, now: "2026-02-02T00:00:00Z")
    }

    struct Refusal: Sendable, CustomTestStringConvertible {
        var label: String
        var requests: [Operations.WriteRequest]
        var mode: Operations.WriteMode = .set
        var deleting: [String] = []
        var writeOnly = false
        var type: String
        var testDescription: String { label }
    }

    static let refusals: [Refusal] = [
        Refusal(label: "create of an existing name", requests: [request("API_KEY", "new")], mode: .create, type: "already_exists"),
        Refusal(label: "update of a missing name", requests: [request("NEW", "v")], mode: .update, type: "not_found"),
        Refusal(label: "env var owned by another secret", requests: [request("OTHER", "v", envVar: "DATABASE_URL")],
                type: "duplicate_env_var"),
        Refusal(label: "two new secrets, one env var", requests: [request("A", "1", envVar: "SAME"), request("B", "2", envVar: "SAME")],
                type: "duplicate_env_var"),
        Refusal(label: "execution env var without consent", requests: [request("PRELOAD", "x", envVar: "LD_PRELOAD")],
                type: "restricted_env_var"),
        Refusal(label: "execution env var, write-only even with consent",
                requests: [request("PRELOAD", "x", envVar: "LD_PRELOAD", consent: true)], writeOnly: true, type: "restricted_env_var"),
        Refusal(label: "deletion by a write-only writer", requests: [], deleting: ["API_KEY"], writeOnly: true, type: "forbidden"),
        Refusal(label: "deletion of a missing name", requests: [], deleting: ["NOPE"], type: "not_found"),
    ]

    @Test(arguments: refusals)
    func refuses(_ refusal: Refusal) throws {
        let error = #expect(throws: AgentError.self) {
            try Self.plan(refusal.requests, mode: refusal.mode, deleting: refusal.deleting, writeOnly: refusal.writeOnly)
        }
        #expect(error?.envelope.errors.first?.type == refusal.type, "\(String(describing: error))")
    }

    @Test func aMembersUnchangedValueIsLeftOut() throws {
        let plan = try Self.plan([Self.request("API_KEY", "old"), Self.request("DB_URL", "postgres://y"), Self.request("NEW", "n")])
        #expect(plan.changedNames == ["DB_URL", "NEW"])
        #expect(plan.existing == ["API_KEY", "DB_URL"])
        #expect(plan.changes.map(\.line.envVar) == ["DATABASE_URL", "NEW"], "an existing line keeps its env var")
        #expect(plan.summary(.automatic) == "import 2 secrets (dev): DB_URL, NEW")
        // The unchanged request keeps its line; the others take the sealed ones, in order.
        let sealed = try plan.changes.map { change in
            SecretLine(name: change.line.name, envVar: change.line.envVar, createdAt: change.line.createdAt,
                       updatedAt: change.line.updatedAt,
                       sealedValue: try Self.key.seal(change.line.value, name: change.line.name, envVar: change.line.envVar))
        }
        let lines = plan.lines(sealed: sealed)
        #expect(lines.map(\.changed) == [false, true, true])
        #expect(lines[0].line == plan.previous[0], "the unchanged secret keeps its line (and ciphertext)")
        #expect(lines[0].line.updatedAt == "2026-01-01T00:00:00Z")
        #expect(try Self.key.open(lines[1].line).utf8String == "postgres://y")
        #expect(lines[1].line.createdAt == "2026-01-01T00:00:00Z", "an update keeps the creation time")
        #expect(lines[2].line.createdAt == "2026-02-02T00:00:00Z")
    }

    @Test func theSameValueUnderANewEnvVarIsAChange() throws {
        let plan = try Self.plan([Self.request("API_KEY", "old", envVar: "SERVICE_KEY")])
        #expect(plan.changedNames == ["API_KEY"])
        #expect(plan.summary(.automatic) == "update API_KEY (dev)")
    }

    @Test func aWriteOnlyWriterRewritesEveryValue() throws {
        let plan = try Self.plan([Self.request("API_KEY", "old")], writeOnly: true)
        #expect(plan.changedNames == ["API_KEY"], "a write-only writer cannot know the stored value")
        #expect(plan.writeOnly)
        #expect(plan.changes[0].line.length > 0)
        #expect(plan.summary(.automatic) == "update API_KEY (dev) [write-only]")
    }

    @Test func nothingToChangeSaysSo() throws {
        let plan = try Self.plan([Self.request("API_KEY", "old")])
        #expect(!plan.changesSecrets)
        #expect(plan.lines(sealed: []).map(\.changed) == [false])
        #expect(plan.summary(.automatic) == "set the public key (dev)", "only a new environment's recipients file")
    }

    @Test func summariesNameWhatChanged() throws {
        let group = try Self.plan([Self.request("API_KEY", "a"), Self.request("DB_URL", "b")], mode: .update)
        #expect(group.summary(.group(verb: "update")) == "update API_KEY, DB_URL (dev)")
        #expect(group.summary(.copy(from: "staging")) == "copy 2 secrets from staging (dev): API_KEY, DB_URL")
        let edit = try Self.plan([Self.request("NEW", "n")], deleting: ["API_KEY"])
        #expect(edit.summary(.edit) == "edit 2 secrets (dev): API_KEY, NEW")
        #expect(edit.secrets.line(named: "API_KEY") == nil)
        let many = try Self.plan((1...6).map { Self.request("K\($0)", "v") })
        #expect(many.summary(.automatic) == "import 6 secrets (dev)", "more than five names are only counted")
    }

    @Test func inputChecksNeedNoStore() throws {
        let twice = #expect(throws: AgentError.self) {
            try WritePlan.checkInput([Self.request("A", "1"), Self.request("A", "2")], environment: "dev")
        }
        #expect(twice?.kind == .invalidRequest)
        let both = #expect(throws: AgentError.self) {
            try WritePlan.checkInput([Self.request("A", "1")], deleting: ["A"], environment: "dev")
        }
        #expect(both?.kind == .invalidRequest)
        let empty = #expect(throws: AgentError.self) { try WritePlan.checkInput(Self.request("A", "")) }
        #expect(empty?.envelope.errors.first?.type == "empty_value")
        let badName = #expect(throws: AgentError.self) { try WritePlan.checkInput(Self.request("not a name", "v")) }
        #expect(badName?.kind == .validationError)
    }
}
