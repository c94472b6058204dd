import Testing
@testable import EnvAgentCore

@Suite struct CryptoBindingTests {
    let key = try! EnvironmentKey.generate(storeID: "store-A", environment: "dev")

    func line(_ name: String, sealedWith key: EnvironmentKey, value: String = "postgres://user:pw@db/app") throws -> SecretLine {
        SecretLine(name: name, envVar: name, createdAt: "2026-01-01T00:00:00Z", updatedAt: "2026-01-01T00:00:00Z",
                   sealedValue: try key.seal(secret(value), name: name, envVar: name))
    }

    @Test func roundTrip() throws {
        let sealed = try line("DB_URL", sealedWith: key)
        #expect(try key.open(sealed).utf8String == "postgres://user:pw@db/app")
    }

    @Test func freshNonceEveryWrite() throws {
        #expect(try key.seal(secret("same"), name: "A", envVar: "A") != key.seal(secret("same"), name: "A", envVar: "A"))
    }

    /// Nonces come from a pooled buffer: across many refills (growing from 256 bytes to 8 KiB), no
    /// nonce repeats, each seal opens, and no nonce is all zeros (the pool wipes what it hands out).
    @Test func pooledNoncesNeverRepeat() throws {
        let key = try Crypto.newAEADKey()
        var nonces = Set<[UInt8]>()
        for index in 0..<2_000 {
            let plaintext = Array("value-\(index)".utf8)
            let sealed = try plaintext.withUnsafeBytes { try Crypto.seal($0, key: key, associatedData: [1, 2, 3]) }
            let nonce = Array(sealed.prefix(Crypto.aeadNonceBytes))
            #expect(nonce != [UInt8](repeating: 0, count: Crypto.aeadNonceBytes))
            nonces.insert(nonce)
            #expect(try Crypto.open(sealed, key: key, associatedData: [1, 2, 3])?.bytes == plaintext)
        }
        #expect(nonces.count == 2_000)
    }

    @Test func ciphertextMovedToAnotherNameFails() throws {
        let original = try line("DB_URL", sealedWith: key)
        let moved = SecretLine(name: "API_KEY", envVar: "API_KEY", createdAt: original.createdAt,
                               updatedAt: original.updatedAt, sealedValue: original.sealedValue)
        let error = #expect(throws: AgentError.self) { try key.open(moved) }
        #expect(error?.message.contains("API_KEY") == true)
    }

    @Test func ciphertextMovedToAnotherEnvironmentOrStoreFails() throws {
        let original = try line("DB_URL", sealedWith: key)
        let sameKeyOtherEnv = try EnvironmentKey(key: key.key, storeID: "store-A", environment: "prod")
        let sameKeyOtherStore = try EnvironmentKey(key: key.key, storeID: "store-B", environment: "dev")
        #expect(throws: AgentError.self) { try sameKeyOtherEnv.open(original) }
        #expect(throws: AgentError.self) { try sameKeyOtherStore.open(original) }
    }

    @Test func tamperedLinesGiveClearErrors() throws {
        let good = try line("DB_URL", sealedWith: key)
        var flipped = Array(good.raw)
        flipped[flipped.count - 5] = flipped[flipped.count - 5] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        let truncated = Array(good.raw.dropLast(20))
        let notBase64 = Array("DB_URL DB_URL 2026-01-01T00:00:00Z 2026-01-01T00:00:00Z a:!!!notbase64!!!".utf8)
        let missingField = Array("DB_URL DB_URL a:AAAA".utf8)
        let tooShort = Array("DB_URL DB_URL 2026-01-01T00:00:00Z 2026-01-01T00:00:00Z a:AAAA".utf8)
        var buffers = EnvironmentKey.OpeningBuffers()
        for raw in [flipped, truncated, notBase64, missingField, tooShort] {
            let error = #expect(throws: AgentError.self) { try key.open(SecretLine(raw: raw)) }
            #expect(error?.kind == .internalError)
            #expect(error?.message.contains("DB_URL") == true)
            // Opening into reused buffers fails the same way.
            let again = #expect(throws: AgentError.self) { try key.withOpened(SecretLine(raw: raw), using: &buffers) { _ in } }
            #expect(again?.message == error?.message)
        }
    }

    /// Opening into reused buffers gives each value exactly, for both value kinds and any
    /// length (the buffer grows and shrinks between values), and wipes it afterwards.
    @Test func reusedOpeningBuffersGiveEachValue() throws {
        var buffers = EnvironmentKey.OpeningBuffers()
        let writeOnly = key.publicKey
        for length in [0, 1, 70, 3, 1000, 16] {
            let value = String(repeating: "x", count: length) + "\(length)"
            for sealedValue in [try key.seal(secret(value), name: "V", envVar: "V"), try writeOnly.seal(secret(value), name: "V", envVar: "V")] {
                let line = SecretLine(name: "V", envVar: "V", createdAt: "c", updatedAt: "u", sealedValue: sealedValue)
                #expect(try key.withOpened(line, using: &buffers) { String(decoding: $0.array, as: UTF8.self) } == value)
            }
        }
        #expect(buffers.plaintextIsWiped)
    }

    /// Sealed values have the length announced before sealing (streamed writes declare the
    /// file size up front).
    @Test func sealedLengthsAreKnownBeforeSealing() throws {
        let writeOnly = key.publicKey
        for length in 0...100 {
            let value = secret(String(repeating: "v", count: length))
            #expect(try key.seal(value, name: "N", envVar: "N").utf8.count == EnvironmentKey.sealedLength(valueLength: length))
            #expect(try writeOnly.seal(value, name: "N", envVar: "N").utf8.count == EnvironmentPublicKey.sealedLength(valueLength: length))
        }
    }

    @Test func environmentKeyUnwrapsOnlyForRecipients() throws {
        let alice = try Identity.generate(), bob = try Identity.generate()
        let recipients = [try key.wrapped(for: alice.publicKey, label: "alice")]
        let unwrapped = try EnvironmentKey.unwrap(from: recipients, identity: alice, storeID: "store-A", environment: "dev")
        #expect(unwrapped.key.bytes == key.key.bytes)
        let error = #expect(throws: AgentError.self) {
            try EnvironmentKey.unwrap(from: recipients, identity: bob, storeID: "store-A", environment: "dev")
        }
        #expect(error?.kind == .forbidden)
    }

    @Test func keyTextsRoundTripAndRejectTampering() throws {
        let identity = try Identity.generate()
        let text = identity.secretKeyText
        #expect(text.hasPrefix("AGENT-SECRET-KEY-"))
        #expect(try Identity.parseSecretKey(text).publicKey == identity.publicKey)
        #expect(try Identity.parsePublicKey(identity.publicKeyText) == identity.publicKey)
        var chars = Array(text)
        chars[20] = chars[20] == "A" ? "B" : "A"
        for bad in [String(chars), "agent-secret-key-" + text.dropFirst(17), String(text.dropLast(2)), identity.publicKeyText] {
            let error = #expect(throws: AgentError.self) { try Identity.parseSecretKey(bad) }
            #expect(error?.kind == .authenticationFailed)
            #expect(error?.message.contains(text) == false)
        }
    }
}
