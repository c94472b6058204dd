import Foundation
import Testing
@testable import EnvAgentCore

/// The store on real temp repositories, through the same operations the CLI calls.
@Suite struct StoreTests {
    let dir = TempDirectory("store")
    let source: IdentitySource
    let identity: Identity

    init() throws {
        (source, identity) = try makeIdentitySource(in: dir)
    }

    func newStore(bare: Bool = false) throws -> (Operations, String) {
        try EnvAgentCoreTests.newStore(in: dir, source: source, bare: bare)
    }

    func git(_ path: String, _ args: String...) throws -> String {
        try gitOutput(path, args).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func createUpdateGetListDelete() throws {
        let (ops, _) = try newStore()
        let created = try ops.create(.init(name: "OPENAI_KEY", value: secret("sk-proj-abcdefghijklmnop789")), environment: "dev")
        #expect(created.metadata.maskedValue == "sk-pro••••789")
        #expect(created.metadata.envVar == "OPENAI_KEY")
        #expect(throws: AgentError.self) { try ops.create(.init(name: "OPENAI_KEY", value: secret("x")), environment: "dev") }
        let updated = try ops.update(.init(name: "OPENAI_KEY", value: secret("sk-proj-zyxwvutsrqponmlk321")), environment: "dev")
        #expect(updated.changed)
        #expect(updated.metadata.createdAt == created.metadata.createdAt)
        #expect(try ops.reveal(name: "OPENAI_KEY", environment: "dev").utf8String == "sk-proj-zyxwvutsrqponmlk321")
        let missing = #expect(throws: AgentError.self) { try ops.update(.init(name: "NOPE", value: secret("x")), environment: "dev") }
        #expect(missing?.kind == .notFound)
        _ = try ops.set(.init(name: "db.url", envVar: "DB_URL", value: secret("postgres://x")), environment: "dev")
        #expect(try ops.list(environment: "dev").map(\.name) == ["OPENAI_KEY", "db.url"])
        try ops.delete(name: "db.url", environment: "dev")
        #expect(try ops.list(environment: "dev").map(\.name) == ["OPENAI_KEY"])
        #expect(try ops.history(name: nil, environment: "dev").map(\.action) == ["delete", "create", "update", "create", "init"])
    }

    @Test func oneCommitPerChangeAndOneLineChanged() throws {
        let (ops, path) = try newStore()
        for index in 0..<20 {
            _ = try ops.set(.init(name: "K\(index)", value: secret("value-\(index)-abcdef")), environment: "dev")
        }
        let before = try git(path, "rev-parse", "HEAD")
        _ = try ops.update(.init(name: "K7", value: secret("changed-value")), environment: "dev")
        #expect(try git(path, "rev-list", "--count", "\(before)..HEAD") == "1")
        let diff = try git(path, "diff", "--numstat", before, "HEAD")
        #expect(diff == "1\t1\t.envagent/dev/secrets")
        #expect(try git(path, "log", "-1", "--format=%s") == "update K7 (dev)")
    }

    @Test func unchangedValueKeepsItsCiphertextAndMakesNoCommit() throws {
        let (ops, path) = try newStore()
        _ = try ops.set(.init(name: "A", value: secret("same-value-123")), environment: "dev")
        let head = try git(path, "rev-parse", "HEAD")
        let again = try ops.set(.init(name: "A", value: secret("same-value-123")), environment: "dev")
        #expect(!again.changed)
        #expect(try git(path, "rev-parse", "HEAD") == head)
    }

    @Test func envVarsAreUniquePerEnvironment() throws {
        let (ops, _) = try newStore()
        _ = try ops.set(.init(name: "a", envVar: "SHARED", value: secret("1")), environment: "dev")
        let error = #expect(throws: AgentError.self) {
            try ops.set(.init(name: "b", envVar: "SHARED", value: secret("2")), environment: "dev")
        }
        #expect(error?.kind == .validationError)
        #expect(error?.details.first?.type == "duplicate_env_var")
    }

    @Test func firstWriteCreatesEnvironmentWithWriterAsRecipient() throws {
        let (ops, _) = try newStore()
        _ = try ops.set(.init(name: "A", value: secret("prod-value")), environment: "prod")
        let envs = try ops.environments()
        #expect(envs.map(\.name) == ["dev", "prod"])
        #expect(envs.last?.recipientCount == 1)
        #expect(try ops.reveal(name: "A", environment: "prod").utf8String == "prod-value")
    }

    @Test func otherIdentityIsForbidden() throws {
        let (ops, path) = try newStore()
        _ = try ops.set(.init(name: "A", value: secret("v")), environment: "dev")
        let (otherSource, _) = try makeIdentitySource(in: dir, name: "other")
        let other = Operations(store: try Store.open(path: path), identitySource: otherSource)
        #expect((#expect(throws: AgentError.self) { try other.reveal(name: "A", environment: "dev") })?.kind == .forbidden)
        #expect((#expect(throws: AgentError.self) { try other.render(names: [], environment: "dev", format: .env) })?.kind == .forbidden)
        #expect((#expect(throws: AgentError.self) { try other.delete(name: "A", environment: "dev") })?.kind == .forbidden)
        #expect((#expect(throws: AgentError.self) { try other.rotate(.one("dev")) })?.kind == .forbidden)
        // A non-member may list names (values masked) and write write-only.
        #expect(try other.list(environment: "dev").map(\.maskedValue) == [Masking.bullets])
        #expect(try other.update(.init(name: "A", value: secret("written-by-a-stranger")), environment: "dev").sealed)
        #expect(try ops.reveal(name: "A", environment: "dev").utf8String == "written-by-a-stranger")
    }

    @Test func bareRepositoryAndUnbornBranch() throws {
        let (ops, path) = try newStore(bare: true)
        #expect(ops.store.repository.isBare)
        _ = try ops.set(.init(name: "A", value: secret("in-a-bare-repo")), environment: "dev")
        #expect(try git(path, "log", "--format=%s").split(separator: "\n") == ["create A (dev)", "init EnvAgent store (dev)"])
        let fsck = try run("git", ["-C", path, "fsck", "--strict"])
        #expect(fsck.status == 0, "\(fsck.stderr)")
        #expect(try ops.reveal(name: "A", environment: "dev").utf8String == "in-a-bare-repo")
    }

    @Test func existingRepositoryWithHistoryKeepsItsFiles() throws {
        let path = dir.file("existing")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        _ = try git(path, "init", "-q")
        try "hello\n".write(toFile: path + "/README", atomically: true, encoding: .utf8)
        _ = try git(path, "add", "README")
        _ = try git(path, "commit", "-qm", "first")
        let (ops, _) = try Operations.initialize(path: path, environment: "dev", bare: false, identitySource: source)
        _ = try ops.set(.init(name: "A", value: secret("v")), environment: "dev")
        #expect(try git(path, "ls-tree", "-r", "--name-only", "HEAD").split(separator: "\n").contains("README"))
        #expect(try git(path, "status", "--porcelain").isEmpty)
        let again = #expect(throws: AgentError.self) {
            try Operations.initialize(path: path, environment: "dev", bare: false, identitySource: source)
        }
        #expect(again?.kind == .alreadyExists)
    }

    @Test func newerFormatTouchesNothing() throws {
        let (ops, path) = try newStore()
        try "envagent-store\nformat 99\nid x\n".write(toFile: path + "/.envagent/store", atomically: true, encoding: .utf8)
        _ = try git(path, "commit", "-qam", "from the future")
        let head = try git(path, "rev-parse", "HEAD")
        for attempt in [{ _ = try ops.set(.init(name: "A", value: secret("v")), environment: "dev") },
                        { _ = try ops.list(environment: "dev") }] {
            let error = #expect(throws: AgentError.self) { try attempt() }
            #expect(error?.kind == .upgradeRequired)
        }
        #expect(try git(path, "rev-parse", "HEAD") == head)
    }

    @Test func packingKeepsEveryObjectReadable() throws {
        let (ops, path) = try newStore()
        for index in 0..<40 {
            _ = try ops.set(.init(name: "K\(index % 7)", value: secret("value-\(index)-xyz")), environment: "dev")
        }
        try ops.store.pack(.full) // everything loose into a pack, packs rolled up
        let loose = try git(path, "count-objects", "-v")
        #expect(loose.contains("count: 0"))
        let fsck = try run("git", ["-C", path, "fsck", "--strict", "--no-dangling"])
        #expect(fsck.status == 0, "\(fsck.stdout)\(fsck.stderr)")
        #expect(try ops.reveal(name: "K4", environment: "dev").utf8String == "value-39-xyz")
        #expect(try ops.list(environment: "dev").count == 7)
    }

    @Test func writesPackTheirLooseObjects() throws {
        let (ops, path) = try newStore()
        for index in 0..<120 {
            _ = try ops.set(.init(name: "K\(index % 9)", value: secret("value-\(index)-abcdefgh")), environment: "dev")
        }
        let counts = try git(path, "count-objects", "-v")
        let field = { (name: String) in
            Int(counts.split(separator: "\n").first { $0.hasPrefix(name + ":") }!.split(separator: " ").last!)!
        }
        #expect(field("packs") >= 1)
        #expect(field("count") < 5 * GitRepository.looseFoldersPerPack, "\(counts)")
        let fsck = try run("git", ["-C", path, "fsck", "--strict", "--no-dangling"])
        #expect(fsck.status == 0, "\(fsck.stderr)")
        #expect(try ops.reveal(name: "K2", environment: "dev").utf8String == "value-119-abcdefgh")
    }

    /// Loose objects are deflated at level 1 (git's `core.looseCompression` default), which the
    /// zlib header records (0x78 0x01), and git reads them.
    @Test func looseObjectsUseFastCompression() throws {
        let (ops, path) = try newStore()
        _ = try ops.set(.init(name: "A", value: secret("fast-compression-1")), environment: "dev")
        let blob = try git(path, "rev-parse", "HEAD:.envagent/dev/secrets")
        let loose = try FileIO.read(path + "/.git/objects/" + blob.prefix(2) + "/" + blob.dropFirst(2), upTo: 2)
        #expect(loose == [0x78, 0x01])
        let fsck = try run("git", ["-C", path, "fsck", "--strict"])
        #expect(fsck.status == 0, "\(fsck.stderr)")
    }

    @Test func geometricRollUpPicksTheSmallPacksThatBreakTheProgression() {
        #expect(GitRepository.packsToRollUp([], factor: 2) == 0)
        #expect(GitRepository.packsToRollUp([50], factor: 2) == 0)
        #expect(GitRepository.packsToRollUp([50, 50], factor: 2) == 2)
        #expect(GitRepository.packsToRollUp([50, 100, 300], factor: 2) == 0)
        #expect(GitRepository.packsToRollUp([50, 60, 400], factor: 2) == 2)
        // The big pack stays when the small ones do not add up to half of it.
        #expect(GitRepository.packsToRollUp([50, 120, 250, 4000], factor: 2) == 3)
        #expect(GitRepository.packsToRollUp([50, 120, 250, 600], factor: 2) == 4)
    }

    /// Packs after many writes stay few and geometric, with every object readable.
    @Test func packsStayGeometric() throws {
        let (ops, path) = try newStore()
        for index in 0..<400 {
            _ = try ops.set(.init(name: "K\(index % 11)", value: secret("value-\(index)-geometric")), environment: "dev")
        }
        let packFolder = path + "/.git/objects/pack"
        let counts = try FileManager.default.contentsOfDirectory(atPath: packFolder).filter { $0.hasSuffix(".idx") }
            .compactMap { PackIndex(path: packFolder + "/" + $0)?.count }.sorted()
        #expect(counts.count >= 1 && counts.count <= 8, "\(counts)")
        var smaller = 0
        for count in counts {
            #expect(smaller == 0 || count >= 2 * smaller, "not geometric: \(counts)")
            smaller += count
        }
        let fsck = try run("git", ["-C", path, "fsck", "--strict", "--no-dangling"])
        #expect(fsck.status == 0, "\(fsck.stderr)")
        #expect(try ops.reveal(name: "K3", environment: "dev").utf8String == "value-399-geometric")
    }

    /// Packing after a commit goes through the pack lock like every other packer: while
    /// another holds it, commits leave their objects loose; once it is free, the next commit
    /// packs them.
    @Test func inlinePackingWaitsForNoOneAndRespectsThePackLock() throws {
        let (ops, path) = try newStore()
        #expect({ if case .inline = ops.store.packing { true } else { false } }())
        let gitDir = path + "/.git/"
        func packs() -> Int { FileIO.directoryEntries(gitDir + "objects/pack").filter { $0.hasSuffix(".pack") }.count }
        let before = packs()
        try FileIO.withExclusiveLock(gitDir + "envagent-pack.lock") {
            for index in 0..<40 {
                _ = try ops.set(.init(name: "K\(index)", value: secret("value-\(index)")), environment: "dev")
            }
        }
        #expect(packs() == before, "another packer held the lock: nothing was packed")
        #expect(ops.store.repository.packingDue)
        _ = try ops.set(.init(name: "K0", value: secret("after")), environment: "dev")
        #expect(packs() > before, "the first commit after the lock was released packed")
        #expect(!ops.store.repository.packingDue)
    }

    /// A second handle packs while the first one commits (what the HTTP server does): nothing
    /// is lost, whatever the interleaving.
    @Test func packingAlongsideAWriterLosesNothing() throws {
        let (ops, path) = try newStore()
        let packerOps = Operations(store: Store(repository: try #require(try GitRepository.open(path, search: false))),
                                   identitySource: source)
        ops.store.packing = .manual // as in the server: the writer never packs
        nonisolated(unsafe) let writer = ops
        nonisolated(unsafe) var writeError: Error?
        let finished = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            defer { finished.signal() }
            do {
                for index in 0..<300 {
                    _ = try writer.set(.init(name: "K\(index % 13)", value: secret("value-\(index)-alongside")), environment: "dev")
                }
            } catch { writeError = error }
        }
        var packs = 0
        while finished.wait(timeout: .now() + .milliseconds(2)) == .timedOut {
            if try packerOps.store.pack(.whenDue) { packs += 1 }
        }
        #expect(writeError == nil, "\(String(describing: writeError))")
        #expect(packs >= 2)
        let fsck = try run("git", ["-C", path, "fsck", "--strict", "--no-dangling"])
        #expect(fsck.status == 0, "\(fsck.stderr)")
        for name in 0..<13 {
            let last = (0..<300).last { $0 % 13 == name }!
            #expect(try ops.reveal(name: "K\(name)", environment: "dev").utf8String == "value-\(last)-alongside")
        }
    }

    @Test func importIsOneCommitAndAtomic() throws {
        let (ops, path) = try newStore()
        let before = try git(path, "rev-parse", "HEAD")
        let bad = #expect(throws: AgentError.self) {
            try ops.importDotEnv(Array("A=1\nB=2\nthis is not valid\n".utf8), environment: "dev")
        }
        #expect(bad?.message.contains("line 3") == true)
        #expect(try git(path, "rev-parse", "HEAD") == before)
        let result = try ops.importDotEnv(Array("A=1\nB='two'\nC=\"three\"\n".utf8), environment: "dev")
        #expect(result.created == ["A", "B", "C"])
        #expect(try git(path, "rev-list", "--count", "\(before)..HEAD") == "1")
        #expect(result.commit == (try git(path, "rev-parse", "HEAD")))
        let again = try ops.importDotEnv(Array("A=1\n".utf8), environment: "dev")
        #expect(again.commit == nil)
        #expect(again.unchanged == ["A"])
        let second = try ops.importDotEnv(Array("A=1\nB=changed\nD=4\n".utf8), environment: "dev")
        #expect(second.created == ["D"])
        #expect(second.updated == ["B"])
        #expect(second.unchanged == ["A"])
    }
}
