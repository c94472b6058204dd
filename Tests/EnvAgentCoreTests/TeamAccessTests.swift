import Foundation
import Testing
@testable import EnvAgentCore

/// Recipients, rotation, write-only values and verify, on real temp repositories.
@Suite struct TeamAccessTests {
    let dir = TempDirectory("team")
    let aliceSource: IdentitySource, alice: Identity
    let bobSource: IdentitySource, bob: Identity
    let path: String
    let asAlice: Operations

    init() throws {
        (aliceSource, alice) = try makeIdentitySource(in: dir, name: "alice")
        (bobSource, bob) = try makeIdentitySource(in: dir, name: "bob")
        path = dir.file("repo")
        asAlice = try Operations.initialize(path: path, environment: "dev", bare: false, identitySource: aliceSource).operations
    }

    var asBob: Operations { get throws { Operations(store: try Store.open(path: path), identitySource: bobSource) } }

    /// No identity at all: a write-only contributor.
    var asStranger: Operations {
        get throws {
            Operations(store: try Store.open(path: path), identitySource: IdentitySource(
                environmentText: nil, environmentFile: nil, flagFile: nil, defaultFile: dir.file("no-identity")))
        }
    }

    func environmentKey(_ ops: Operations, _ environment: String) throws -> EnvironmentKey {
        try ops.environmentKey(environment, in: ops.store.snapshot())
    }

    func values(_ environment: String) throws -> [String: String] {
        let secrets = try asAlice.store.snapshot().secrets(environment)
        return Dictionary(uniqueKeysWithValues: secrets.lines.map { ($0.name, $0.sealedValue) })
    }

    @Test func removedMemberCannotOpenAnythingWrittenAfterwards() throws {
        _ = try asAlice.set(.init(name: "A", value: secret("value-a")), environment: "dev")
        _ = try asAlice.set(.init(name: "B", value: secret("value-b")), environment: "dev")
        _ = try asAlice.addRecipient(bob.publicKeyText, label: "bob", .one("dev"))
        let bobsOldKey = try environmentKey(try asBob, "dev")
        #expect(try asBob.reveal(name: "A", environment: "dev").utf8String == "value-a")
        let before = try values("dev")

        let change = try asAlice.removeRecipient("bob", .one("dev"))
        #expect(change.rotatedSecrets == 2 && change.environments == ["dev"])
        let after = try values("dev")
        #expect(Set(after.keys) == Set(before.keys))
        for name in before.keys { #expect(after[name] != before[name], "\(name) kept its ciphertext") }
        // Even the key Bob unwrapped before does not open the rotated values or a new write.
        _ = try asAlice.update(.init(name: "A", value: secret("value-a2")), environment: "dev")
        for line in try asAlice.store.snapshot().secrets("dev").lines {
            #expect(throws: AgentError.self) { try bobsOldKey.open(line) }
        }
        #expect(try asAlice.reveal(name: "B", environment: "dev").utf8String == "value-b")
        #expect((#expect(throws: AgentError.self) { try asBob.reveal(name: "B", environment: "dev") })?.kind == .forbidden)
        #expect(try asAlice.verify(.all).allSatisfy { $0.problems.isEmpty })
    }

    @Test func lastRecipientCannotBeRemovedAndNothingIsWritten() throws {
        _ = try asAlice.set(.init(name: "A", value: secret("value-a")), environment: "dev")
        let head = try asAlice.store.snapshot().commit
        let error = #expect(throws: AgentError.self) { try asAlice.removeRecipient(alice.publicKeyText, .one("dev")) }
        #expect(error?.kind == .validationError && error?.details.first?.type == "last_recipient")
        #expect(try asAlice.store.snapshot().commit == head)
    }

    @Test func addRequiresMembershipAndValidKeysAndLabels() throws {
        let notMember = #expect(throws: AgentError.self) { try asBob.addRecipient(bob.publicKeyText, label: nil, .one("dev")) }
        #expect(notMember?.kind == .forbidden)
        let badKey = #expect(throws: AgentError.self) { try asAlice.addRecipient("agent-pub-AAAA", label: nil, .one("dev")) }
        #expect(badKey?.kind == .validationError)
        let badLabel = #expect(throws: AgentError.self) { try asAlice.addRecipient(bob.publicKeyText, label: "two words", .one("dev")) }
        #expect(badLabel?.kind == .validationError)
        _ = try asAlice.addRecipient(bob.publicKeyText, label: "bob", .one("dev"))
        let again = #expect(throws: AgentError.self) { try asAlice.addRecipient(bob.publicKeyText, label: "bob", .one("dev")) }
        #expect(again?.kind == .alreadyExists)
        let relabelled = try asAlice.addRecipient(bob.publicKeyText, label: "robert", .one("dev"))
        #expect(relabelled.environments == ["dev"])
        let listing = try asAlice.recipients(.one("dev"))[0]
        #expect(Set(listing.recipients.map(\.label)) == [nil, "robert"])
        // Bob creates an environment: he is its only member and keeps his label.
        _ = try asBob.set(.init(name: "X", value: secret("x")), environment: "bobs-env")
        #expect(try asAlice.recipients(.one("bobs-env"))[0].recipients.map(\.label) == ["robert"])
        #expect(listing.recipients.first { $0.you }?.publicKey == alice.publicKeyText)
        #expect(listing.publicKey != nil)
    }

    @Test func rotationIsAllOrNothing() throws {
        _ = try asAlice.set(.init(name: "A", value: secret("value-a")), environment: "dev")
        _ = try asAlice.set(.init(name: "B", value: secret("value-b")), environment: "dev")
        let bytes = try #require(try asAlice.store.snapshot().file(StoreFormat.secretsPath("dev")))
        var text = String(decoding: bytes, as: UTF8.self)
        text = text.replacingOccurrences(of: " a:", with: " a:AAAA", options: [], range: text.range(of: "\nB ").map { $0.lowerBound..<text.endIndex })
        try asAlice.store.apply { _ in StoreChange(files: [StoreFormat.secretsPath("dev"): Array(text.utf8)], message: "corrupt B") }
        let head = try asAlice.store.snapshot().commit
        let error = #expect(throws: AgentError.self) { try asAlice.rotate(.one("dev")) }
        #expect(error?.message.contains("'B'") == true && error?.message.contains("nothing was written") == true)
        #expect(try asAlice.store.snapshot().commit == head)
        let report = try asAlice.verify(.one("dev"))[0]
        #expect(report.problems.map(\.name) == ["B"])
        #expect(report.problems.first?.commit == head?.hex)
    }

    @Test func writeOnlyValuesAreBoundAndKeptByTheNextMemberWrite() throws {
        _ = try asAlice.set(.init(name: "A", value: secret("value-a")), environment: "dev")
        _ = try asAlice.set(.init(name: "B", value: secret("value-b")), environment: "dev")
        let stranger = try asStranger
        let written = try stranger.update(.init(name: "A", value: secret("from-a-contractor")), environment: "dev")
        #expect(written.sealed && written.changed)
        _ = try stranger.create(.init(name: "C", value: secret("new-from-contractor")), environment: "dev")
        #expect(try stranger.list(environment: "dev").allSatisfy { $0.maskedValue == Masking.bullets })
        for attempt in [{ _ = try stranger.reveal(name: "A", environment: "dev") },
                        { _ = try stranger.render(names: [], environment: "dev", format: .env) },
                        { _ = try stranger.delete(name: "A", environment: "dev") }] {
            #expect((#expect(throws: AgentError.self) { try attempt() })?.kind == .forbidden)
        }
        // A write-only writer cannot create an environment.
        #expect((#expect(throws: AgentError.self) { try stranger.set(.init(name: "X", value: secret("x")), environment: "prod") })?.kind == .authenticationFailed)
        let lines = try asAlice.store.snapshot().secrets("dev").lines
        #expect(lines.map(\.valueKind) == [.sealed, .aead, .sealed])
        #expect(try asAlice.reveal(name: "A", environment: "dev").utf8String == "from-a-contractor")
        #expect(try asAlice.verify(.one("dev"))[0].writeOnlyValues == 2)

        // A sealed value moved onto another name does not open.
        let key = try environmentKey(asAlice, "dev")
        let moved = SecretLine(name: "B", envVar: "B", createdAt: lines[0].createdAt, updatedAt: lines[0].updatedAt,
                               sealedValue: lines[0].sealedValue)
        #expect(throws: AgentError.self) { try key.open(moved) }

        // A member's write of another secret leaves the sealed values as they are.
        _ = try asAlice.update(.init(name: "B", value: secret("value-b2")), environment: "dev")
        let after = try asAlice.store.snapshot().secrets("dev").lines
        #expect(after.map(\.valueKind) == [.sealed, .aead, .sealed])
        #expect(after[0] == lines[0] && after[2] == lines[2])
        #expect(try asAlice.render(names: ["A", "C"], environment: "dev", format: .env).utf8String
                == "A='from-a-contractor'\nC='new-from-contractor'\n")
    }

    @Test func rotationReplacesThePublicKeyAndKeepsSealedValuesSealed() throws {
        _ = try asAlice.set(.init(name: "A", value: secret("value-a")), environment: "dev")
        let oldPublicKey = try asAlice.store.snapshot().recipientsFile("dev").publicKey
        _ = try asStranger.update(.init(name: "A", value: secret("sealed-value")), environment: "dev")
        let result = try asAlice.rotate(.all)
        #expect(result.secrets == 1)
        let file = try asAlice.store.snapshot().recipientsFile("dev")
        #expect(file.publicKey != nil && file.publicKey != oldPublicKey)
        #expect(try asAlice.store.snapshot().secrets("dev").lines.map(\.valueKind) == [.sealed])
        #expect(try asAlice.reveal(name: "A", environment: "dev").utf8String == "sealed-value")
        #expect(try asAlice.verify(.all).allSatisfy { $0.problems.isEmpty })
    }

    /// A forged `public-key` line (someone with push access wants write-only values sealed to
    /// their key) voids the recipients file's signature: members and write-only writers stop
    /// with `untrusted_change` before sealing anything to it.
    @Test func forgedPublicKeyStopsEveryoneBeforeSealing() throws {
        _ = try asAlice.set(.init(name: "A", value: secret("value-a")), environment: "dev")
        var file = try asAlice.store.snapshot().recipientsFile("dev")
        file.publicKey = bob.publicKey
        #expect(!file.isSigned)
        try asAlice.store.apply { _ in StoreChange(files: [StoreFormat.recipientsPath("dev"): file.serialized()], message: "forge") }
        let forged = try asAlice.store.snapshot().commit
        for operations in [asAlice, try asStranger] {
            let error = #expect(throws: AgentError.self) {
                try operations.set(.init(name: "B", value: secret("value-b")), environment: "dev")
            }
            #expect(error?.kind == .untrustedChange)
            #expect(error?.message.contains(String(forged!.hex.prefix(12))) == true)
        }
        #expect(try asAlice.store.snapshot().commit == forged)
        #expect((#expect(throws: AgentError.self) { try asAlice.verify(.one("dev")) })?.kind == .untrustedChange)
    }

    @Test func historyNamesRecipientChangesAndLabels() throws {
        _ = try asAlice.addRecipient(bob.publicKeyText, label: "bob", .one("dev"))
        _ = try asBob.set(.init(name: "A", value: secret("value-a")), environment: "dev")
        _ = try asStranger.update(.init(name: "A", value: secret("value-b")), environment: "dev")
        _ = try asAlice.rotate(.one("dev"))
        let history = try asAlice.history(name: "A", environment: "dev")
        #expect(history.map(\.action) == ["rotate", "update", "create", "recipient-add", "init"])
        #expect(history.map(\.recipient) == [Operations.shortKey(alice.publicKeyText), "write-only", "bob",
                                             Operations.shortKey(alice.publicKeyText), Operations.shortKey(alice.publicKeyText)])
    }

    /// After creates, updates, rotations and removals, no value, environment key (old or new) or
    /// identity secret key is in any git object.
    @Test func noSecretMaterialInAnyGitObject() throws {
        var keys: [[UInt8]] = [alice.secretKey.bytes, bob.secretKey.bytes]
        func rememberKey() throws { keys.append(try environmentKey(asAlice, "dev").key.bytes) }
        try rememberKey()
        let values = (0..<6).map { "plaintext-marker-\($0)-\(UUID().uuidString)" }
        _ = try asAlice.set(.init(name: "A", value: secret(values[0])), environment: "dev")
        _ = try asAlice.addRecipient(bob.publicKeyText, label: "bob", .one("dev"))
        _ = try asBob.set(.init(name: "B", value: secret(values[1])), environment: "dev")
        _ = try asStranger.update(.init(name: "A", value: secret(values[2])), environment: "dev")
        _ = try asAlice.rotate(.one("dev")); try rememberKey()
        _ = try asAlice.update(.init(name: "B", value: secret(values[3])), environment: "dev")
        _ = try asAlice.removeRecipient("bob", .one("dev")); try rememberKey()
        _ = try asAlice.importDotEnv(Array("C=\(values[4])\nD=\(values[5])\n".utf8), environment: "dev")
        #expect(try asAlice.verify(.all).allSatisfy { $0.problems.isEmpty })

        let objects = try run("git", ["-C", path, "cat-file", "--batch-all-objects", "--batch"])
        #expect(objects.status == 0)
        let dump = Data(objects.stdout.utf8)
        for value in values { #expect(dump.range(of: Data(value.utf8)) == nil) }
        // The store is text, so a key could only leak encoded (hex or base64).
        for key in keys {
            #expect(dump.range(of: Data(key.map { String(format: "%02x", $0) }.joined().utf8)) == nil)
            for variant in [Crypto.Base64Variant.standard, .urlSafeNoPadding] {
                #expect(dump.range(of: Data(Crypto.base64(key, variant: variant).utf8)) == nil)
            }
        }
        #expect(!objects.stdout.contains(Identity.secretKeyPrefix))
    }
}
