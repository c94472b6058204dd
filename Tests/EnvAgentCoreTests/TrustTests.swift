import Foundation
import Testing
@testable import EnvAgentCore

/// Format-1 stores, `agent upgrade`, and this clone's trust record, on real repositories.
@Suite struct TrustTests {
    let dir = TempDirectory("trust")
    let aliceSource: IdentitySource, alice: Identity
    let bobSource: IdentitySource, bob: Identity
    let asAlice: Operations

    init() throws {
        (aliceSource, alice) = try makeIdentitySource(in: dir, name: "alice")
        (bobSource, bob) = try makeIdentitySource(in: dir, name: "bob")
        asAlice = try Operations.initialize(path: dir.file("repo"), environment: "dev", bare: false, identitySource: aliceSource).operations
    }

    var asBob: Operations { get throws { Operations(store: try Store.open(path: dir.file("repo")), identitySource: bobSource) } }

    var pinsPath: String { TrustPins.path(in: asAlice.store.repository) }

    /// Rewrites the store as an earlier agent wrote it: header `format 1`, unsigned recipients
    /// files, values sealed with format 1's associated data (`dev`: Alice; `ops`: Bob only).
    func makeFormatOneStore() throws -> String {
        let storeID = try asAlice.store.snapshot().requireHeader().storeID
        var files: [String: [UInt8]?] = [StoreFormat.headerPath: StoreHeader(format: 1, storeID: storeID).serialized()]
        for (environment, member) in [("dev", alice), ("ops", bob)] {
            let key = try EnvironmentKey(key: try Crypto.newAEADKey(), storeID: storeID, environment: environment, format: 1)
            files[StoreFormat.recipientsPath(environment)] = RecipientsFile(
                publicKey: key.publicKey.key, recipients: [try key.wrapped(for: member.publicKey, label: nil)]).serialized()
            files[StoreFormat.secretsPath(environment)] = SecretsFile(lines: [
                SecretLine(name: "A", envVar: "A", createdAt: "2026-01-01T00:00:00Z", updatedAt: "2026-01-01T00:00:00Z",
                           sealedValue: try key.seal(secret("member-\(environment)"), name: "A", envVar: "A")),
                SecretLine(name: "B", envVar: "B", createdAt: "2026-01-01T00:00:00Z", updatedAt: "2026-01-01T00:00:00Z",
                           sealedValue: try key.publicKey.seal(secret("write-only-\(environment)"), name: "B", envVar: "B")),
            ]).serialized()
        }
        try asAlice.store.apply { _ in StoreChange(files: files, message: "a format-1 store") }
        FileIO.remove(pinsPath)
        return storeID
    }

    @Test func formatOneStoreIsUpgradeRequiredUntilUpgraded() throws {
        _ = try makeFormatOneStore()
        #expect(!String(decoding: try asAlice.store.snapshot().file(StoreFormat.recipientsPath("dev"))!, as: UTF8.self).contains("signature"))
        for read in [{ _ = try asAlice.list(environment: "dev") }, { _ = try asAlice.reveal(name: "A", environment: "dev") },
                     { _ = try asAlice.set(.init(name: "C", value: secret("c-value")), environment: "dev") }] {
            let error = #expect(throws: AgentError.self) { try read() }
            #expect(error?.kind == .upgradeRequired && error?.hint?.contains("agent upgrade") == true)
        }

        // Alice signs what she is a member of; Bob's environment waits for him.
        let result = try asAlice.upgrade()
        #expect(result.environments == ["dev"] && result.remaining == ["ops"] && result.secrets == 2)
        let snapshot = try asAlice.store.snapshot()
        #expect(try snapshot.requireHeader().format == 2)
        #expect(try snapshot.recipientsFile("dev").isSigned)
        #expect(try asAlice.reveal(name: "A", environment: "dev").utf8String == "member-dev")
        #expect(try asAlice.reveal(name: "B", environment: "dev").utf8String == "write-only-dev")
        #expect(try snapshot.secrets("dev").line(named: "B")?.valueKind == .sealed, "write-only stays write-only")
        #expect(try TrustPins.load(from: pinsPath).environments["dev"] != nil)
        let error = #expect(throws: AgentError.self) { try asBob.list(environment: "ops") }
        #expect(error?.kind == .upgradeRequired && error?.details.first?.type == "unsigned_recipients")

        let bobs = try asBob.upgrade()
        #expect(bobs.environments == ["ops"] && bobs.remaining.isEmpty)
        #expect(try asBob.reveal(name: "B", environment: "ops").utf8String == "write-only-ops")
        #expect(try asAlice.verify(.one("dev")).allSatisfy { $0.problems.isEmpty })
        #expect((#expect(throws: AgentError.self) { try asAlice.upgrade() })?.kind == .alreadyExists)
    }

    /// A pinned environment whose signed file is replaced by an unsigned one is not "still to
    /// upgrade": stripping the signature is an untrusted change, also for `agent upgrade`.
    @Test func strippedSignatureIsNotAnUpgrade() throws {
        _ = try asAlice.set(.init(name: "A", value: secret("value-a")), environment: "dev")
        var file = try asAlice.store.snapshot().recipientsFile("dev")
        file.signingKey = nil // voids the signature: an unsigned, format-1-looking file
        try asAlice.store.apply { _ in StoreChange(files: [StoreFormat.recipientsPath("dev"): file.serialized()], message: "strip") }
        #expect((#expect(throws: AgentError.self) { try asAlice.list(environment: "dev") })?.kind == .untrustedChange)
        #expect((#expect(throws: AgentError.self) { try asAlice.upgrade() })?.kind == .untrustedChange)
    }

    /// The record of what this clone accepted is itself checked: a damaged one is an error
    /// naming it, never a silent fresh start.
    @Test func damagedTrustRecordIsAnError() throws {
        _ = try asAlice.list(environment: "dev")
        #expect(FileIO.mode(pinsPath).map { $0 & 0o777 } == 0o600)
        try FileIO.writeAtomically(pinsPath, bytes: Array("store x\nenvironment dev not-base64\n".utf8), mode: 0o600)
        let error = #expect(throws: AgentError.self) { try asAlice.list(environment: "dev") }
        #expect(error?.kind == .internalError && error?.message.contains("envagent-trust line 2") == true)
    }

    /// `trust` reports a clone's own state as trusted and accepts nothing then.
    @Test func trustOfAnUnchangedEnvironment() throws {
        _ = try asAlice.addRecipient(bob.publicKeyText, label: "bob", .one("dev"))
        let report = try asAlice.trust("dev", accept: true)
        #expect(report.status == "trusted" && !report.accepted && report.added.isEmpty && report.removed.isEmpty)
        #expect((#expect(throws: AgentError.self) { try asAlice.trust("nope", accept: false) })?.kind == .notFound)
    }
}
