import Foundation
import Testing
@testable import EnvAgentCore

/// Render targets that reach beyond a private file in the work tree wait for `agent allow`.
/// Real repositories and symlinks.
@Suite struct TargetApprovalTests: TargetsRepositorySuite {
    let dir = TempDirectory("consent")
    let source: IdentitySource
    let operations: Operations
    let repo: String
    let outside: String

    init() throws {
        (source, operations, repo, outside) = try Self.makeRepository(in: dir)
    }

    @Test func classifiesWhatNeedsThisMachinesApproval() throws {
        try FileManager.default.createDirectory(atPath: repo + "/config", withIntermediateDirectories: true)
        try link("linked", to: outside)
        let workTree = try #require(TargetLocation.realPath(repo))
        try writeTargets("""
            [target plain]
            environment = dev
            output = app.env
            [target narrow]
            environment = dev
            output = config/narrow.env
            mode = 0400
            [target absolute-inside]
            environment = dev
            output = \(repo)/inside.env
            [target absolute]
            environment = dev
            output = \(dir.file("outside"))/abs.env
            [target through-link]
            environment = dev
            output = linked/app.env
            [target group]
            environment = dev
            output = group.env
            mode = 0640
            [target executable]
            environment = dev
            output = exec.env
            mode = 0700
            [target reload]
            environment = dev
            output = reload.env
            on-change = touch reloaded
            """)
        let review = try operations.reviewTargets()
        let needs = Dictionary(uniqueKeysWithValues: review.targets.map { ($0.target, $0.needsApproval) })
        #expect(needs["plain"] == [] && needs["narrow"] == [] && needs["absolute-inside"] == [])
        #expect(needs["absolute"] == ["writes outside the work tree: \(outside)/abs.env"])
        #expect(needs["through-link"] == ["writes outside the work tree: \(outside)/app.env"])
        #expect(needs["group"] == ["mode 0640"] && needs["executable"] == ["mode 0700"])
        #expect(needs["reload"] == ["runs on-change: touch reloaded"])
        #expect(review.targets.first { $0.target == "plain" }?.path == workTree + "/app.env")
        #expect(!review.approved && review.needingApproval.count == 5)

        // Unapproved: the safe targets render, the others are skipped naming why and the fix.
        let results = byTarget(try operations.renderAllTargets())
        for name in ["plain", "narrow", "absolute-inside"] {
            #expect(results[name]?.outcome == .written, "\(name): \(results[name]?.message ?? "")")
        }
        for name in ["absolute", "through-link", "group", "executable", "reload"] {
            let result = try #require(results[name])
            #expect(result.outcome == .skipped && result.error?.kind == .forbidden)
            #expect(result.needsApproval == needs[name])
            let message = result.message ?? ""
            #expect(message.contains("target '\(name)' needs this machine's approval") && message.contains(needs[name]![0])
                    && message.contains("review .envagent/targets, then run agent allow"), "\(message)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: outside).isEmpty)
        for file in ["group.env", "exec.env", "reload.env"] { #expect(!FileManager.default.fileExists(atPath: repo + "/" + file)) }
        #expect(try mode(repo + "/config/narrow.env") == 0o400)

        // Approved: every one of them is written, with its mode.
        #expect(try operations.allowTargets().approved)
        let approved = byTarget(try operations.renderAllTargets())
        #expect(approved.values.allSatisfy { $0.outcome == .written || $0.outcome == .unchanged }, "\(approved)")
        #expect(try mode(outside + "/abs.env") == 0o600 && FileManager.default.fileExists(atPath: outside + "/app.env"))
        #expect(try mode(repo + "/group.env") == 0o640 && mode(repo + "/exec.env") == 0o700)
    }

    @Test func anApprovalCoversExactlyOneContent() throws {
        let targets = """
            [target app]
            environment = dev
            output = app.env
            [target ci]
            environment = dev
            output = \(outside)/ci.env
            mode = 0644

            """
        try writeTargets(targets)
        #expect(byTarget(try operations.renderAllTargets())["ci"]?.outcome == .skipped)
        let allowed = try operations.allowTargets()
        #expect(allowed.approved && allowed.needingApproval.map(\.target) == ["ci"])
        let record = operations.store.repository.commonDirectory + TargetApproval.fileName
        #expect(try mode(record) == 0o600)
        #expect(byTarget(try operations.renderAllTargets())["ci"]?.outcome == .written)
        #expect(try mode(outside + "/ci.env") == 0o644)

        // Any byte changes it: a comment, a space at the end of a line.
        for edited in [targets + "# a comment\n", targets.replacingOccurrences(of: "mode = 0644", with: "mode = 0644 ")] {
            try writeTargets(edited)
            #expect(try !operations.reviewTargets().approved)
            _ = try operations.set(.init(name: "API_KEY", value: secret("sk-live-rotated-\(edited.count)")), environment: "dev")
            let result = try #require(byTarget(try operations.renderAllTargets())["ci"])
            #expect(result.outcome == .skipped && (result.message ?? "").contains("changed since it was approved"), "\(result.message ?? "")")
            #expect(try String(contentsOfFile: outside + "/ci.env", encoding: .utf8) == "API_KEY='sk-live-0123456789abcdef'\n")
        }
        // Back to the approved bytes: approved again (it is that exact content).
        try writeTargets(targets)
        #expect(try operations.reviewTargets().approved)

        // Revoking withdraws it; a second revoke finds nothing.
        #expect(try operations.revokeTargetsApproval())
        #expect(try !operations.revokeTargetsApproval())
        #expect(try !operations.reviewTargets().approved)
        #expect(!FileManager.default.fileExists(atPath: record))
        #expect(byTarget(try operations.renderAllTargets())["ci"]?.outcome == .skipped)
    }

    /// The approval covers where the outputs lead too: a symlinked folder that now points
    /// outside the work tree is not what was approved.
    @Test func aFolderTurnedIntoASymlinkVoidsTheApproval() throws {
        try FileManager.default.createDirectory(atPath: repo + "/out", withIntermediateDirectories: true)
        try writeTargets("[target app]\nenvironment = dev\noutput = out/app.env\nmode = 0640\n")
        #expect(try operations.allowTargets().approved)
        #expect(byTarget(try operations.renderAllTargets())["app"]?.outcome == .written)
        try FileManager.default.removeItem(atPath: repo + "/out")
        try link("out", to: outside)
        let review = try operations.reviewTargets()
        #expect(!review.approved && review.targets[0].needsApproval == ["writes outside the work tree: \(outside)/app.env", "mode 0640"])
        #expect(byTarget(try operations.renderAllTargets())["app"]?.outcome == .skipped)
        #expect(!FileManager.default.fileExists(atPath: outside + "/app.env"))
    }

    /// A target waiting for approval keeps the hooks rendering (no state is recorded), so the
    /// first hook after `agent allow` writes it.
    @Test func aHookRendersOnceApproved() throws {
        try writeTargets("[target ci]\nenvironment = dev\noutput = \(outside)/ci.env\n")
        #expect(try operations.refreshTargetsIfStoreChanged()?.first?.outcome == .skipped)
        #expect(try operations.refreshTargetsIfStoreChanged()?.first?.outcome == .skipped)
        try operations.allowTargets()
        #expect(try operations.refreshTargetsIfStoreChanged()?.first?.outcome == .written)
        #expect(try operations.refreshTargetsIfStoreChanged() == nil)
    }

    /// A bare repository has no work tree: every output needs approval.
    @Test func aBareRepositoryApprovesEveryOutput() throws {
        try writeTargets("[target app]\nenvironment = dev\noutput = app.env\n")
        _ = try gitOutput(repo, ["add", ".envagent/targets"])
        _ = try gitOutput(repo, ["commit", "-qm", "targets"])
        let bare = dir.file("bare.git")
        _ = try gitOutput(dir.path, ["clone", "-q", "--bare", repo, bare])
        let bareOperations = Operations(store: try Store.open(path: bare), identitySource: source)
        let review = try bareOperations.reviewTargets()
        #expect(review.targets[0].needsApproval.first?.hasPrefix("writes outside the work tree: ") == true, "\(review)")
        #expect(!review.approved)
    }
}
