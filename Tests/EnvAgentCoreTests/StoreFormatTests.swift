import Testing
@testable import EnvAgentCore

@Suite struct StoreFormatTests {
    @Test func headerRoundTrip() throws {
        let header = StoreHeader(storeID: "abc123")
        #expect(String(decoding: header.serialized(), as: UTF8.self) == "envagent-store\nformat 2\nid abc123\n")
        #expect(try StoreHeader.parse(header.serialized()) == header)
    }

    @Test(arguments: ["3", "99999999999999999999", "9223372036854775808"])
    func newerFormatIsUpgradeRequired(_ format: String) {
        let error = #expect(throws: AgentError.self) {
            try StoreHeader.parse(Array("envagent-store\nformat \(format)\nid x\n".utf8))
        }
        #expect(error?.kind == .upgradeRequired)
    }

    @Test(arguments: ["", "not a store\n", "envagent-store\nid x\n", "envagent-store\nformat 1\n",
                      "envagent-store\nformat two\nid x\n", "envagent-store\nformat -99999999999999999999\nid x\n"])
    func malformedHeaders(_ text: String) {
        let error = #expect(throws: AgentError.self) { try StoreHeader.parse(Array(text.utf8)) }
        #expect(error?.kind == .internalError)
    }

    @Test func secretsFileStaysSortedAndChangesOneLine() throws {
        var file = SecretsFile()
        for name in ["b", "a", "c"] {
            file = try written(file, [SecretLine(name: name, envVar: name.uppercased(), createdAt: "t0", updatedAt: "t0", sealedValue: "a:AAAA")])
        }
        #expect(file.lines.map(\.name) == ["a", "b", "c"])
        let before = file.serialized()
        file = try written(file, [SecretLine(name: "b", envVar: "B", createdAt: "t0", updatedAt: "t1", sealedValue: "a:BBBB")])
        let after = file.serialized()
        let beforeLines = String(decoding: before, as: UTF8.self).split(separator: "\n")
        let afterLines = String(decoding: after, as: UTF8.self).split(separator: "\n")
        #expect(zip(beforeLines, afterLines).filter { $0 != $1 }.count == 1)
        #expect(SecretsFile.parse(after) == file)
        #expect(file.remove(named: "a")?.name == "a")
        #expect(file.line(named: "a") == nil)
        #expect(file.line(named: "c")?.envVar == "C")
    }

    @Test func parsingKeepsUntouchedLinesByteForByte() {
        let text = "A A t0 t0 a:AAAA\nB B t0 t0 a:BBBB\n"
        #expect(SecretsFile.parse(Array(text.utf8)).serialized() == Array(text.utf8))
    }

    @Test func handEditedOrderIsRepaired() {
        let file = SecretsFile.parse(Array("B B t t a:B\nA A t t a:A\n".utf8))
        #expect(file.lines.map(\.name) == ["A", "B"])
    }

    @Test func recipientsRoundTrip() throws {
        let identity = try Identity.generate()
        let key = try EnvironmentKey.generate(storeID: "s", environment: "dev")
        let file = try key.recipientsFile(for: [(identity.publicKey, "alice@laptop")])
        let parsed = try RecipientsFile.parse(file.serialized(), environment: "dev")
        #expect(parsed == file)
        #expect(parsed.publicKey == key.publicKey.key)
        // A file written before write-only support has no public-key line.
        let legacy = RecipientsFile(publicKey: nil, recipients: file.recipients)
        #expect(try RecipientsFile.parse(legacy.serialized(), environment: "dev") == legacy)
    }

    @Test(arguments: ["public-key agent-pub-bad", "recipient onlytwo", "member agent-pub-x y", "public-key"])
    func malformedRecipientsLinesAreRefused(_ text: String) {
        #expect(throws: AgentError.self) { try RecipientsFile.parse(Array((text + "\n").utf8), environment: "dev") }
    }
}

@Suite struct Base64Tests {
    @Test func matchesLibsodiumOnRandomData() throws {
        for length in 0..<70 {
            let bytes = try Crypto.randomBytes(length)
            let text = Crypto.base64(bytes)
            #expect(Base64.decode(Array(text.utf8)) == bytes)
            #expect(bytes.withUnsafeBytes { Base64.encode($0, after: "a:") } == "a:" + text)
        }
    }

    @Test(arguments: ["A", "AB=", "A===", "AB=C", "ab!d", "abc\n", "====", "ab==cdef"])
    func rejectsMalformedText(_ text: String) {
        #expect(Base64.decode(Array(text.utf8)) == nil)
    }

    /// Bits the padding drops must be zero: one text per byte string, as libsodium decodes.
    @Test(arguments: ["QR==", "QX==", "QUJ=", "QUL=", "AAAAQR=="])
    func rejectsNonCanonicalPaddingBits(_ text: String) {
        #expect(Base64.decode(Array(text.utf8)) == nil)
        #expect(Crypto.decodeBase64(text.utf8, variant: .standard) == nil)
    }

    @Test(arguments: ["QQ==", "QUI=", "AAAAQQ=="])
    func acceptsCanonicalPadding(_ text: String) {
        #expect(Base64.decode(Array(text.utf8)) != nil)
        #expect(Base64.decode(Array(text.utf8)) == Crypto.decodeBase64(text.utf8, variant: .standard))
    }
}

@Suite struct SecretsFileMergeTests {
    func line(_ name: String, _ value: String) -> SecretLine {
        SecretLine(name: name, envVar: "V_" + name.replacingOccurrences(of: ".", with: "_"), createdAt: "t", updatedAt: "t", sealedValue: "a:" + value)
    }

    @Test func bulkWriteEqualsOneByOne() throws {
        let base = SecretsFile(lines: (0..<50).filter { $0 % 3 == 0 }.map { line("k\($0)", "old") })
        let incoming = (0..<50).filter { $0 % 2 == 0 }.reversed().map { line("k\($0)", "new") }
        let bulk = try written(base, Array(incoming))
        let single = try incoming.reduce(base) { try written($0, [$1]) }
        #expect(bulk == single)
        #expect(bulk.lines.count == Set(base.lines.map(\.name) + incoming.map(\.name)).count)
        #expect(bulk.line(named: "k6")?.sealedValue == "a:new")
        #expect(bulk.line(named: "k3")?.sealedValue == "a:old")
        #expect(zip(bulk.lines, bulk.lines.dropFirst()).allSatisfy { SecretsFile.precedes($0.name, $1.name) })
    }

    @Test func orderIsBytewise() {
        #expect(SecretsFile.precedes("A", "a"))
        #expect(SecretsFile.precedes("a", "a.b"))
        #expect(SecretsFile.precedes("Z_1", "_"))
        #expect(!SecretsFile.precedes("b", "a"))
        #expect(!SecretsFile.precedes("", ""))
    }
}

@Suite struct SecretLineShapeTests {
    @Test(arguments: [
        ("N V c u a:AAAA", true), ("N V c u a:AAAA extra", false), ("N V c u ", false), ("N V c a:AAAA", false),
        ("N  c u a:AAAA", false), (" V c u a:AAAA", false), ("N", false),
    ])
    func wellFormedMeansFiveNonEmptyFields(_ text: String, _ expected: Bool) {
        let line = SecretLine(raw: Array(text.utf8))
        #expect(line.isWellFormed == expected)
        #expect(line.name == String(text.prefix { $0 != " " }))
        if expected { #expect(line.envVar == "V" && line.sealedValue == "a:AAAA") }
    }
}

/// `file` with `lines` written in by the streamed writer every write goes through, "sealing" by
/// passing each line's VALUE field through; the file read back from what it produced.
func written(_ file: SecretsFile, _ lines: [SecretLine]) throws -> SecretsFile {
    let pending = lines.map {
        SecretsFile.PendingLine(name: $0.name, envVar: $0.envVar, createdAt: $0.createdAt, updatedAt: $0.updatedAt,
                                value: SecretBytes(Array($0.sealedValue.utf8)), sealedValueLength: $0.sealedValue.utf8.count)
    }
    let streamed = file.streamed(with: pending, seal: { value, _, _ in value.utf8String }, done: { _ in })
    var bytes: [UInt8] = []
    try streamed.produce { bytes += $0.array }
    #expect(bytes.count == streamed.size)
    return SecretsFile.parse(bytes)
}
