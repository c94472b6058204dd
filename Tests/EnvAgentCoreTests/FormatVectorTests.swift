import Foundation
import Testing
@testable import EnvAgentCore

/// The test vectors of docs/format.md (Tests/Vectors, written by scripts/make-vectors.py with
/// PyNaCl, independently of this code): a `key: value` header, a blank line, the file's bytes.
struct FormatVector: CustomTestStringConvertible, Sendable {
    let name: String
    let headers: [String: String]
    let body: [UInt8]

    var testDescription: String { name }

    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Vectors").path

    static func all(_ kind: String) -> [FormatVector] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return names.filter { $0.hasSuffix(".txt") }.sorted().compactMap { name in
            let bytes = Array(FileManager.default.contents(atPath: folder + "/" + name) ?? Data())
            guard let split = bytes.indices.first(where: { bytes[$0] == 0x0A && bytes[$0 + 1] == 0x0A }) else { return nil }
            var headers: [String: String] = [:]
            for line in String(decoding: bytes[..<split], as: UTF8.self).split(separator: "\n") {
                let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                headers[parts[0]] = parts[1]
            }
            let vector = FormatVector(name: name, headers: headers, body: Array(bytes[(split + 2)...]))
            return headers["kind"] == kind ? vector : nil
        }
    }

    subscript(_ key: String) -> String { headers[key]! }

    func hex(_ key: String) -> [UInt8] {
        let text = Array(self[key].utf8)
        return stride(from: 0, to: text.count, by: 2).map { UInt8(String(decoding: text[$0..<$0 + 2], as: UTF8.self), radix: 16)! }
    }

    var environmentKey: EnvironmentKey {
        get throws { try EnvironmentKey(key: SecretBytes(hex("environment-key")), storeID: self["store-id"], environment: self["environment"]) }
    }
}

extension Trust.Verdict {
    var isTrusted: Bool { if case .trusted = self { true } else { false } }
}

@Suite struct FormatVectorTests {
    @Test func everyKindHasVectors() {
        #expect(FormatVector.all("derivation").count == 1)
        #expect(FormatVector.all("recipients").count >= 10)
        #expect(FormatVector.all("line").count >= 12)
        #expect(FormatVector.all("secrets-file").count >= 6)
    }

    /// Whole secrets files against the read rules: the problem types, in file order.
    @Test(arguments: FormatVector.all("secrets-file"))
    func secretsFiles(_ vector: FormatVector) throws {
        let file = SecretsFile.parse(vector.body)
        let expected = vector["expect"].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(file.problems.map(\.type) == expected)
        if expected.isEmpty {
            let key = try vector.environmentKey
            for line in try file.checked(environment: vector["environment"]).lines { _ = try key.open(line) }
        } else {
            #expect(throws: AgentError.self) { try file.checked(environment: vector["environment"]) }
        }
    }

    @Test(arguments: FormatVector.all("derivation"))
    func derivedKeysAndAssociatedData(_ vector: FormatVector) throws {
        let key = try vector.environmentKey
        #expect(Identity.publicKeyText(key.publicKey.key) == vector["sealing-public-key"])
        #expect(Crypto.base64(try key.signingKeyPair().publicKey) == vector["signing-public-key"])
        for (format, header) in [(2, "associated-data"), (1, "associated-data-v1")] {
            let prefix = ValueBinding.associatedDataPrefix(storeID: vector["store-id"], environment: vector["environment"], format: format)
            #expect(ValueBinding.associatedData(prefix, name: vector["name"], envVar: vector["env-var"], format: format) == vector.hex(header))
        }
    }

    @Test(arguments: FormatVector.all("recipients"))
    func recipientsFiles(_ vector: FormatVector) throws {
        let environment = vector["environment"], storeID = vector["store-id"]
        let file: RecipientsFile
        do {
            file = try RecipientsFile.parse(vector.body, environment: environment)
        } catch let error as AgentError {
            #expect(vector["expect"] == "malformed", "\(error.message)")
            return
        }
        #expect(vector["expect"] != "malformed")
        let pin = vector.headers["pin"].map { TrustPins.Pin(signingKey: Base64.decode(Array($0.utf8))!, members: []) }
        let verdict = Trust.verdict(file, pin: pin, storeID: storeID, environment: environment)
        if vector["expect"] == "trusted" {
            #expect(verdict.isTrusted, "\(verdict)")
            // The member's identity unwraps the environment key, whose derived keys are the file's.
            let identity = try Identity(secretKey: SecretBytes(vector.hex("identity-secret-key")))
            let key = try EnvironmentKey.unwrap(from: file.recipients, identity: identity, storeID: storeID, environment: environment)
            #expect(key.key.bytes == vector.hex("environment-key"))
            #expect(file.signingKey == (try key.signingKeyPair().publicKey))
            #expect(file.publicKey == key.publicKey.key)
            #expect(file.baseFor == (vector.headers["base-for"]?.split(separator: ",").map(String.init) ?? []))
            // What this implementation writes for the same members verifies the same way.
            let rewritten = try key.recipientsFile(for: file.recipients.map { ($0.publicKey, $0.label) }, baseFor: file.baseFor,
                                                   endorsements: file.endorsements)
            let reparsed = try RecipientsFile.parse(rewritten.serialized(), environment: environment)
            #expect(reparsed.hasValidSignature(storeID: storeID, environment: environment))
            #expect(reparsed.baseFor == file.baseFor)
            #expect(Trust.verdict(reparsed, pin: pin, storeID: storeID, environment: environment).isTrusted)
        } else {
            #expect(!verdict.isTrusted, "\(vector.name) was trusted")
        }
    }

    @Test(arguments: FormatVector.all("line"))
    func secretsLines(_ vector: FormatVector) throws {
        let key = try vector.environmentKey
        let line = try #require(SecretsFile.parse(vector.body).lines.first)
        if vector["expect"] == "success" {
            #expect(try key.open(line).utf8String == vector["value"])
            var buffers = EnvironmentKey.OpeningBuffers()
            #expect(try key.withOpened(line, using: &buffers) { String(decoding: $0.array, as: UTF8.self) } == vector["value"])
        } else {
            let error = #expect(throws: AgentError.self) { try key.open(line) }
            #expect(error?.details.first?.type == vector["expect"])
            #expect(error?.message.contains(line.name) == true)
            var buffers = EnvironmentKey.OpeningBuffers()
            #expect(throws: AgentError.self) { try key.withOpened(line, using: &buffers) { _ in } }
        }
    }
}
