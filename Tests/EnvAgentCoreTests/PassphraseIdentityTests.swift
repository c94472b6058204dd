import Foundation
import Synchronization
import Testing
@testable import EnvAgentCore

/// Passphrase-protected identity files: sealing, unlocking, the strict format, and the resident
/// identity that makes a process ask once. Real libsodium, fast (interactive) Argon2id limits.
@Suite struct PassphraseIdentityTests {
    let limits = PassphraseLimits.interactive

    @Test func sealedIdentityUnlocksOnlyWithItsPassphrase() throws {
        let identity = try Identity.generate()
        let text = try IdentityFile.text(for: identity, passphrase: secret("correct horse"), limits: limits)
        let unlocked = try Identity.unlock(fileContents: text.bytes, passphrase: secret("correct horse"), path: "/x/identity")
        #expect(unlocked.secretKey.bytes == identity.secretKey.bytes)
        let error = #expect(throws: AgentError.self) {
            try Identity.unlock(fileContents: text.bytes, passphrase: secret("correct horse "), path: "/x/identity")
        }
        #expect(error?.kind == .authenticationFailed)
        #expect(error?.message.contains("/x/identity") == true)
        #expect(error?.details.first?.type == "wrong_passphrase")
        #expect(error.map { !$0.description.contains("correct horse") } == true)
    }

    /// The example of docs/format.md "Identity files", byte for byte.
    @Test func documentedExampleUnlocks() throws {
        let example = """
        # EnvAgent identity, protected by a passphrase. Keep this file private (mode 0600).
        envagent-identity: 1
        public-key: agent-pub-fUyws4sfE9hQMpuu_69W10Dlf-f7jnfg10wOMZlGoiTVylSI
        kdf: argon2id13 opslimit=2 memlimit=67108864
        salt: 4QcYPubZumyVHIHHQ59FVQ
        nonce: SdpKiSQ2kRGMyd6v2K7JMobs87y4yLAX
        secret-key: 4nHaskscqc7kirEVC5z0G1y1VzJ2rDTbyt3zYj8aDMBDMcUPHRtwtcGJI_L4chYA
        """
        let identity = try Identity.unlock(fileContents: Array(example.utf8), passphrase: secret("pw"))
        #expect(identity.publicKeyText == "agent-pub-fUyws4sfE9hQMpuu_69W10Dlf-f7jnfg10wOMZlGoiTVylSI")
        let doc = try String(contentsOfFile: #filePath.replacingOccurrences(of: "Tests/EnvAgentCoreTests/PassphraseIdentityTests.swift",
                                                                             with: "docs/format.md"), encoding: .utf8)
        #expect(doc.contains(example.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n")))
    }

    @Test func fileStatesThePublicKeyAndParametersButNotTheSecretKey() throws {
        let identity = try Identity.generate()
        let text = try IdentityFile.text(for: identity, passphrase: secret("pw"), limits: limits).utf8String
        let lines = text.split(separator: "\n").filter { !$0.hasPrefix("#") }
        #expect(lines.map { $0.split(separator: ":").first.map(String.init) ?? "" }
                == ["envagent-identity", "public-key", "kdf", "salt", "nonce", "secret-key"])
        #expect(lines[0] == "envagent-identity: 1")
        #expect(lines[1] == "public-key: \(identity.publicKeyText)")
        #expect(lines[2] == "kdf: argon2id13 opslimit=\(limits.opsLimit) memlimit=\(limits.memLimit)")
        #expect(!text.contains(identity.secretKeyText))
        #expect(!text.contains(Crypto.base64(identity.secretKey.bytes, variant: .urlSafeNoPadding)))
        #expect(!text.contains(Crypto.base64(identity.secretKey.bytes)))
        let file = try IdentityFile.parse(Array(text.utf8), path: "f")
        #expect(file.isProtected && file.publicKey == identity.publicKey)
    }

    @Test func twoSealsOfOneKeyShareNoSaltOrNonce() throws {
        let identity = try Identity.generate()
        let a = try ProtectedIdentity.seal(identity, passphrase: secret("pw"), limits: limits)
        let b = try ProtectedIdentity.seal(identity, passphrase: secret("pw"), limits: limits)
        #expect(a.salt != b.salt && a.nonce != b.nonce && a.sealedKey != b.sealedKey)
    }

    @Test func emptyPassphraseIsRefused() throws {
        let error = #expect(throws: AgentError.self) {
            try ProtectedIdentity.seal(try Identity.generate(), passphrase: secret(""), limits: limits)
        }
        #expect(error?.kind == .validationError)
    }

    /// Every header field is bound to the sealed key: changing any fails like a wrong
    /// passphrase (or, when the change breaks the syntax, as a malformed file). Never a crash,
    /// never the key.
    @Test(arguments: [
        ("kdf: argon2id13 opslimit=2 ", "kdf: argon2id13 opslimit=3 ", "wrong_passphrase"),
        ("memlimit=67108864", "memlimit=67109888", "wrong_passphrase"),
        ("memlimit=67108864", "memlimit=99999999999", "invalid_key"),
        ("opslimit=2 ", "opslimit=02 ", "invalid_key"),
        ("kdf: argon2id13", "kdf: argon2i13", "invalid_key"),
        ("envagent-identity: 1", "envagent-identity: 2", "unsupported_version"),
    ])
    func changedHeaderFailsToUnlock(from: String, to: String, expected: String) throws {
        let identity = try Identity.generate()
        let text = try IdentityFile.text(for: identity, passphrase: secret("pw"), limits: limits).utf8String
        #expect(text.contains(from))
        let changed = Array(text.replacingOccurrences(of: from, with: to).utf8)
        let error = #expect(throws: AgentError.self) { try Identity.unlock(fileContents: changed, passphrase: secret("pw")) }
        #expect(error?.kind == .authenticationFailed)
        #expect(error?.details.first?.type == expected)
    }

    @Test(arguments: ["salt: ", "nonce: ", "secret-key: "])
    func flippedCharacterFailsToUnlock(field: String) throws {
        let identity = try Identity.generate()
        let text = try IdentityFile.text(for: identity, passphrase: secret("pw"), limits: limits).utf8String
        var bytes = Array(text.utf8)
        let start = try #require(text.range(of: field)).upperBound
        let index = text.utf8.distance(from: text.utf8.startIndex, to: start) + 3
        bytes[index] = bytes[index] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        let error = #expect(throws: AgentError.self) { try Identity.unlock(fileContents: bytes, passphrase: secret("pw")) }
        #expect(error?.kind == .authenticationFailed)
        #expect(["wrong_passphrase", "invalid_key"].contains(error?.details.first?.type ?? ""))
    }

    @Test func swappedPublicKeyFailsToUnlock() throws {
        let identity = try Identity.generate(), other = try Identity.generate()
        let text = try IdentityFile.text(for: identity, passphrase: secret("pw"), limits: limits).utf8String
        let swapped = Array(text.replacingOccurrences(of: identity.publicKeyText, with: other.publicKeyText).utf8)
        // Readable (whoami would show it) but never unlocked as that key.
        #expect(try IdentityFile.parse(swapped, path: "f").publicKey == other.publicKey)
        let error = #expect(throws: AgentError.self) { try Identity.unlock(fileContents: swapped, passphrase: secret("pw")) }
        #expect(error?.details.first?.type == "wrong_passphrase")
    }

    @Test func plainFileStillLoads() throws {
        let identity = try Identity.generate()
        let text = try IdentityFile.text(for: identity, passphrase: nil)
        #expect(text.utf8String.contains(identity.secretKeyText))
        let file = try IdentityFile.parse(text.bytes, path: "f")
        #expect(!file.isProtected)
        #expect(try Identity.unlock(fileContents: text.bytes, passphrase: secret("ignored")).publicKey == identity.publicKey)
    }

    /// A process asks once: the unlocked identity becomes resident, and later loads of the same
    /// key (even through another source naming another copy of the file) do not ask again.
    @Test func unlockedIdentityIsResidentAndAskedOnce() throws {
        let dir = TempDirectory()
        let identity = try Identity.generate()
        let path = dir.file("identity")
        let source = IdentitySource(environmentText: nil, environmentFile: path, flagFile: nil, defaultFile: dir.file("none"))
        try source.write(identity, to: path, passphrase: secret("pw"), limits: limits)
        #expect(FileIO.mode(path).map { $0 & 0o777 } == 0o600)
        let asked = Mutex(0)
        let counting = PassphraseProvider { request in
            asked.withLock { $0 += 1 }
            return request.attempt == 1 ? secret("pw") : nil
        }
        // The public key needs no passphrase.
        #expect(try source.with(counting).publicKey() == identity.publicKey)
        #expect(asked.withLock { $0 } == 0)
        #expect(try source.with(counting).load()?.secretKey.bytes == identity.secretKey.bytes)
        #expect(try source.with(counting).load()?.publicKey == identity.publicKey)
        let copy = dir.file("copy")
        try FileManager.default.copyItem(atPath: path, toPath: copy)
        let other = IdentitySource(environmentText: nil, environmentFile: copy, flagFile: nil, defaultFile: dir.file("none"),
                                   passphraseProvider: counting)
        #expect(try other.load()?.publicKey == identity.publicKey)
        #expect(asked.withLock { $0 } == 1)
    }

    @Test func wrongPassphraseIsRetriedThenFails() throws {
        let dir = TempDirectory()
        let path = dir.file("identity")
        let source = IdentitySource(environmentText: nil, environmentFile: path, flagFile: nil, defaultFile: dir.file("none"))
        try source.write(try Identity.generate(), to: path, passphrase: secret("pw"), limits: limits)
        let asked = Mutex(0)
        let wrong = PassphraseProvider { request in
            asked.withLock { $0 += 1 }
            return request.attempt <= 2 ? secret("nope") : nil
        }
        let error = #expect(throws: AgentError.self) { try source.with(wrong).load() }
        #expect(error?.details.first?.type == "wrong_passphrase")
        #expect(error?.message.contains(path) == true)
        #expect(asked.withLock { $0 } == 3)
        let none = #expect(throws: AgentError.self) {
            try source.with(PassphraseProvider { _ in nil }).load()
        }
        #expect(none?.details.first?.type == "passphrase_required")
    }

    @Test func replaceSwapsPlainAndProtectedAtomically() throws {
        let dir = TempDirectory()
        let path = dir.file("identity")
        let identity = try Identity.generate()
        let source = IdentitySource(environmentText: nil, environmentFile: path, flagFile: nil, defaultFile: dir.file("none"))
        try source.write(identity, to: path)
        try IdentitySource.replace(path, with: identity, passphrase: secret("pw"), limits: limits)
        #expect(try IdentitySource.readFile(path, required: true)?.isProtected == true)
        #expect(FileIO.mode(path).map { $0 & 0o777 } == 0o600)
        try IdentitySource.replace(path, with: identity, passphrase: nil)
        #expect(try String(contentsOfFile: path, encoding: .utf8).contains(identity.secretKeyText))
        #expect(FileIO.directoryEntries(dir.path).sorted() == ["identity"]) // no temp file left behind
    }
}
