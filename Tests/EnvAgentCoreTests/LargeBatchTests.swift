import Foundation
import Testing
@testable import EnvAgentCore

/// Writes and renders large enough to be split across cores: the secrets file streamed into
/// its blob while it is sealed, and values rendered a block at a time. Real repositories,
/// real libsodium; the results are checked against the git CLI and the one-value paths.
@Suite struct LargeBatchTests {
    let dir = TempDirectory("batch")
    let source: IdentitySource

    init() throws {
        (source, _) = try makeIdentitySource(in: dir)
    }

    func newStore() throws -> (Operations, String) { try EnvAgentCoreTests.newStore(in: dir, source: source) }

    func git(_ path: String, _ args: String...) throws -> String { try gitOutput(path, args) }

    static func name(_ index: Int) -> String { "K\(String(index + 10_000).dropFirst())" }

    /// A value of 1–70 bytes that differs per index and round.
    static func value(_ index: Int, round: Int = 0) -> String {
        String(repeating: "v\(index)-\(round)-", count: 1 + (index * 7 + round) % 8).prefix(1 + (index * 13 + round) % 70).description
    }

    static func dotEnv(_ entries: [(Int, Int)]) -> [UInt8] {
        Array(entries.map { "\(name($0.0))='\(value($0.0, round: $0.1))'\n" }.joined().utf8)
    }

    func secretsLines(_ path: String) throws -> [String] {
        try git(path, "cat-file", "-p", "HEAD:.envagent/dev/secrets").split(separator: "\n").map(String.init)
    }

    @Test func largeImportsStreamTheSecretsFileInNameOrder() throws {
        let (ops, path) = try newStore()
        var rng = SystemRandomNumberGenerator()
        let first = try ops.importDotEnv(Self.dotEnv((0..<3000).map { ($0, 0) }.shuffled(using: &rng)), environment: "dev")
        #expect(first.created.count == 3000)
        let before = try secretsLines(path)
        #expect(before.count == 3000)
        #expect(before.map { String($0.split(separator: " ")[0]) } == (0..<3000).map(Self.name))
        // The working-tree copy is the committed blob, byte for byte, and git finds nothing wrong.
        #expect(try String(contentsOfFile: path + "/.envagent/dev/secrets", encoding: .utf8) == (try git(path, "cat-file", "-p", "HEAD:.envagent/dev/secrets")))
        #expect(try git(path, "status", "--porcelain").isEmpty)
        let fsck = try run("git", ["-C", path, "fsck", "--strict"])
        #expect(fsck.status == 0, "\(fsck.stderr)")

        // 1,000 unchanged, 1,000 changed, 1,000 new, in a shuffled file.
        let plan = ((0..<1000).map { ($0, 0) } + (1000..<2000).map { ($0, 1) } + (3000..<4000).map { ($0, 0) }).shuffled(using: &rng)
        let second = try ops.importDotEnv(Self.dotEnv(plan), environment: "dev")
        #expect(second.unchanged == plan.filter { $0.0 < 1000 }.map { Self.name($0.0) })
        #expect(second.updated == plan.filter { (1000..<2000).contains($0.0) }.map { Self.name($0.0) })
        #expect(second.created == plan.filter { $0.0 >= 3000 }.map { Self.name($0.0) })
        let after = try secretsLines(path)
        #expect(after.count == 4000)
        #expect(after.map { String($0.split(separator: " ")[0]) } == (0..<4000).map(Self.name))
        #expect(Array(after[0..<1000]) == Array(before[0..<1000]), "unchanged values keep their ciphertext")
        #expect(Array(after[2000..<3000]) == Array(before[2000..<3000]), "secrets the file does not name are untouched")
        #expect(zip(after[1000..<2000], before[1000..<2000]).allSatisfy { $0 != $1 })

        let expected = (0..<4000).map { index in "\(Self.name(index))='\(Self.value(index, round: (1000..<2000).contains(index) ? 1 : 0))'\n" }.joined()
        #expect(try ops.render(names: [], environment: "dev", format: .env).utf8String == expected)
        #expect(try git(path, "status", "--porcelain").isEmpty)
    }

    @Test func largeRotationReencryptsEveryValueInOrder() throws {
        let (ops, path) = try newStore()
        _ = try ops.importDotEnv(Self.dotEnv((0..<2500).map { ($0, 0) }), environment: "dev")
        let rendered = try ops.render(names: [], environment: "dev", format: .env).utf8String
        let before = try secretsLines(path)
        var reported: [Int] = []
        let result = try ops.rotate(.one("dev"), progress: { _, done, total in
            #expect(total == 2500)
            reported.append(done)
        })
        #expect(result.secrets == 2500)
        #expect(reported.last == 2500)
        #expect(reported == reported.sorted())
        let after = try secretsLines(path)
        #expect(after.count == 2500)
        #expect(zip(after, before).allSatisfy { $0 != $1 && $0.split(separator: " ")[0] == $1.split(separator: " ")[0] })
        #expect(try ops.render(names: [], environment: "dev", format: .env).utf8String == rendered)
    }

    /// The block-wise renderer writes exactly what rendering decrypted entries one by one does,
    /// in every format, and a value `.env` cannot hold fails naming its secret.
    @Test func blockRenderingMatchesEntryByEntryRendering() throws {
        let (ops, _) = try newStore()
        let awkward = ["it's", "a\"b", "back\\slash", "tab\there", "multi\nline", "ünïcödé", "$HOME", "`cmd`", "=", " spaced "]
        var requests = (0..<2100).map { index in
            Operations.WriteRequest(name: Self.name(index), value: secret(index % 97 == 0 ? awkward[index % awkward.count] : Self.value(index)))
        }
        _ = try ops.write(requests, mode: .set, environment: "dev")
        let entries = try ops.entries(names: [], environment: "dev")
        for format in [RenderFormat.sh, .json] {
            let blockwise = try ops.render(names: [], environment: "dev", format: format)
            #expect(blockwise.bytes == (try DotEnv.render(entries, format: format)).bytes, "\(format)")
        }
        let named = [Self.name(5), Self.name(1999), Self.name(0)]
        #expect(try ops.render(names: named, environment: "dev", format: .json).bytes
                == (try DotEnv.render(ops.entries(names: named, environment: "dev"), format: .json)).bytes)

        requests = [Operations.WriteRequest(name: Self.name(1700), value: secret("never-shown\rQX7"))]
        _ = try ops.write(requests, mode: .set, environment: "dev")
        let error = #expect(throws: AgentError.self) { try ops.render(names: [], environment: "dev", format: .env) }
        #expect(error?.kind == .validationError)
        #expect(error?.message.contains(Self.name(1700)) == true)
        #expect(error?.message.contains("QX7") == false)
    }

    @Test func streamedBlobsStoreExactlyTheDeclaredBytes() throws {
        let (ops, path) = try newStore()
        let repository = ops.store.repository
        let content = Array((0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) })
        let streamed = try repository.writeBlob(size: content.count) { write in
            var offset = 0
            while offset < content.count {
                let end = min(content.count, offset + 7_919)
                try write(content[offset..<end].span)
                offset = end
            }
        }
        #expect(streamed == (try repository.writeBlob(content)))
        #expect(try repository.blob(streamed) == content)
        #expect(try git(path, "cat-file", "-t", streamed.hex) == "blob\n")

        // Too few bytes, too many, or a failing producer: an error, and nothing stored.
        func looseObjects() throws -> Int { Int(try git(path, "count-objects").split(separator: " ")[0])! }
        let stored = try looseObjects()
        let other = Array(content.reversed())
        struct Interrupted: Error {}
        #expect(throws: AgentError.self) {
            _ = try repository.writeBlob(size: other.count + 1) { write in try write(other.span) }
        }
        #expect(throws: AgentError.self) {
            _ = try repository.writeBlob(size: other.count - 1) { write in try write(other.span) }
        }
        #expect(throws: Interrupted.self) {
            let start = Array(other[..<1000])
            _ = try repository.writeBlob(size: other.count) { write in
                try write(start.span)
                throw Interrupted()
            }
        }
        #expect(try looseObjects() == stored)
        let objects = try FileManager.default.contentsOfDirectory(atPath: path + "/.git/objects")
        #expect(!objects.contains { $0.hasPrefix("tmp") }, "\(objects)")
    }

    /// A loose secrets file renders as the same file packed, and a hand-edited file out of
    /// name order, with blank lines and no final newline, still renders sorted.
    @Test func renderingLooseAndPackedFilesMatches() throws {
        let (ops, path) = try newStore()
        _ = try ops.importDotEnv(Self.dotEnv((0..<2500).map { ($0, 0) }), environment: "dev")
        let loose = try [RenderFormat.env, .sh, .json].map { try ops.render(names: [], environment: "dev", format: $0).bytes }
        _ = try git(path, "gc", "-q", "--prune=now")
        let fresh = Store(repository: try #require(try GitRepository.open(path, search: false)))
        let packedOps = Operations(store: fresh, identitySource: source)
        let packed = try [RenderFormat.env, .sh, .json].map { try packedOps.render(names: [], environment: "dev", format: $0).bytes }
        #expect(loose == packed)

        let lines = try secretsLines(path)
        let edited = lines.reversed().joined(separator: "\n\n")
        try edited.write(toFile: path + "/.envagent/dev/secrets", atomically: true, encoding: .utf8)
        _ = try git(path, "commit", "-qam", "hand edit")
        #expect(try ops.render(names: [], environment: "dev", format: .json).bytes == loose[2])
        #expect(try ops.render(names: [], environment: "dev", format: .env).bytes == loose[0])
    }
}
