import Foundation
import Testing
@testable import EnvAgentCore

/// What the render targets suites share: a store with one dev secret, its work tree, and a
/// folder outside it.
protocol TargetsRepositorySuite {
    var dir: TempDirectory { get }
    var operations: Operations { get }
    var repo: String { get }
    /// Resolved, so it compares with resolved paths.
    var outside: String { get }
}

extension TargetsRepositorySuite {
    static func makeRepository(in dir: TempDirectory) throws -> (IdentitySource, Operations, String, String) {
        let (source, _) = try makeIdentitySource(in: dir)
        let (operations, repo) = try newStore(in: dir, source: source)
        _ = try operations.set(.init(name: "API_KEY", value: secret("sk-live-0123456789abcdef")), environment: "dev")
        try FileManager.default.createDirectory(atPath: dir.file("outside"), withIntermediateDirectories: true)
        return (source, operations, repo, try #require(TargetLocation.realPath(dir.file("outside"))))
    }

    func writeTargets(_ text: String) throws {
        try text.write(toFile: repo + "/.envagent/targets", atomically: true, encoding: .utf8)
    }

    func link(_ name: String, to destination: String) throws {
        try FileManager.default.createSymbolicLink(atPath: repo + "/" + name, withDestinationPath: destination)
    }

    func mode(_ path: String) throws -> Int? {
        try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
    }

    func byTarget(_ results: [Operations.TargetResult]) -> [String: Operations.TargetResult] {
        Dictionary(uniqueKeysWithValues: results.map { ($0.target, $0) })
    }
}

/// Outputs into `.git` or `.envagent` are never written, and the write is not redirected by a
/// symlink. Real repositories and symlinks.
@Suite struct TargetLocationTests: TargetsRepositorySuite {
    let dir = TempDirectory("location")
    let operations: Operations
    let repo: String
    let outside: String

    init() throws {
        (_, operations, repo, outside) = try Self.makeRepository(in: dir)
    }

    /// Into git's folder or the store folder: refused even when approved, by an absolute path,
    /// a relative one through a symlinked folder (inside the work tree or outside it), or a
    /// symlink at the output itself.
    @Test func gitAndStoreFoldersAreNeverWritten() throws {
        try link("gitlink", to: repo + "/.git")
        try link("storelink", to: ".envagent")
        try link("hook-link", to: ".git/hooks/pre-push")
        try FileManager.default.createSymbolicLink(atPath: outside + "/via", withDestinationPath: repo + "/.git/hooks")
        let hooks = repo + "/.git/hooks"
        try "#!/bin/sh\nexit 0\n".write(toFile: hooks + "/pre-push", atomically: true, encoding: .utf8)
        let before = try FileManager.default.contentsOfDirectory(atPath: hooks).sorted()
        let config = try String(contentsOfFile: repo + "/.git/config", encoding: .utf8)
        try writeTargets("""
            [target absolute-git]
            environment = dev
            output = \(repo)/.git/config
            [target absolute-store]
            environment = dev
            output = \(repo)/.envagent/dev/secrets
            [target absolute-dots]
            environment = dev
            output = \(repo)/config/../.git/hooks/post-merge
            [target relative-git]
            environment = dev
            output = gitlink/hooks/pre-push
            [target relative-store]
            environment = dev
            output = storelink/targets
            [target via-outside]
            environment = dev
            output = \(outside)/via/pre-commit
            [target link-to-hook]
            environment = dev
            output = hook-link
            [target fine]
            environment = dev
            output = app.env
            """)
        try FileManager.default.createDirectory(atPath: repo + "/config", withIntermediateDirectories: true)
        let allowed = try operations.allowTargets()
        #expect(allowed.targets.filter { $0.refused != nil }.count == 7)
        let results = byTarget(try operations.renderAllTargets())
        for (name, place) in [("absolute-git", "git folder"), ("absolute-store", "store folder .envagent/"),
                              ("absolute-dots", "git folder"), ("relative-git", "git folder"),
                              ("relative-store", "store folder .envagent/"), ("via-outside", "git folder"),
                              ("link-to-hook", "git folder")] {
            let result = try #require(results[name])
            #expect(result.outcome == .failed && result.error?.kind == .invalidRequest, "\(name)")
            #expect((result.message ?? "").contains(place) && (result.message ?? "").contains("never written"), "\(name): \(result.message ?? "")")
        }
        #expect(results["fine"]?.outcome == .written)
        #expect(try FileManager.default.contentsOfDirectory(atPath: hooks).sorted() == before)
        #expect(try String(contentsOfFile: hooks + "/pre-push", encoding: .utf8) == "#!/bin/sh\nexit 0\n")
        #expect(try String(contentsOfFile: repo + "/.git/config", encoding: .utf8) == config)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: repo + "/hook-link") == ".git/hooks/pre-push")
        let secrets = try String(contentsOfFile: repo + "/.envagent/dev/secrets", encoding: .utf8)
        #expect(!secrets.contains("API_KEY='"))
        #expect(try operations.renderTargets()?.targets.count == 8)
        for folder in [repo + "/.envagent", repo + "/.envagent/dev", hooks, repo + "/.git"] {
            #expect(try FileManager.default.contentsOfDirectory(atPath: folder).allSatisfy { !$0.contains(".tmp-") }, "\(folder)")
        }
    }

    /// The atomic write replaces a symlink at the output instead of writing through it, and
    /// writes beside the output in its real folder.
    @Test func aSymlinkAtTheOutputIsReplacedNotFollowed() throws {
        let victim = outside + "/victim"
        try "precious\n".write(toFile: victim, atomically: true, encoding: .utf8)
        try link(".env", to: victim)
        try FileManager.default.createDirectory(atPath: repo + "/real", withIntermediateDirectories: true)
        try link("alias", to: "real")
        try writeTargets("[target app]\nenvironment = dev\noutput = .env\n[target aliased]\nenvironment = dev\noutput = alias/app.env\n")
        let results = byTarget(try operations.renderAllTargets())
        #expect(results["app"]?.outcome == .written && results["aliased"]?.outcome == .written)
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "precious\n")
        let attributes = try FileManager.default.attributesOfItem(atPath: repo + "/.env")
        #expect(attributes[.type] as? FileAttributeType == .typeRegular && attributes[.posixPermissions] as? Int == 0o600)
        #expect(try String(contentsOfFile: repo + "/real/app.env", encoding: .utf8) == "API_KEY='sk-live-0123456789abcdef'\n")
        #expect(try FileManager.default.contentsOfDirectory(atPath: repo + "/real") == ["app.env"])
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: repo + "/alias") == "real")
    }
}
