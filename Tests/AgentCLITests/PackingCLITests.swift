import Foundation
import TestSupport
import Testing

/// libgit2 has no gc: after commits the CLI leaves packing to a detached `agent gc --auto`.
@Suite struct PackingCLITests {
    func looseObjects(_ box: Sandbox) throws -> Int {
        let counts = try box.git("count-objects", "-v").stdout
        return Int(counts.split(separator: "\n").first { $0.hasPrefix("count:") }!.split(separator: " ").last!)!
    }

    /// Whether an `agent gc --auto` started for the repository at `repo` still runs (read from
    /// /proc: the packer is detached, so no test holds its pid).
    static func packerRuns(for repo: String) -> Bool {
        let processes = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return processes.contains { pid in
            guard pid.allSatisfy(\.isNumber), let cmdline = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            let arguments = cmdline.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            return arguments.contains("gc") && arguments.contains("--auto") && arguments.contains { $0.hasPrefix(repo + "/") }
        }
    }

    @Test func writesPackInTheBackgroundAndGCPacksTheRest() throws {
        let box = try Sandbox()
        #expect(try box.agent("init").status == 0)
        // Each update returns without waiting for a pack (the run helper would hang if the
        // background packer held the command's pipes open).
        for index in 0..<60 {
            #expect(try box.agent("set", "K\(index % 7)", stdin: "value-\(index)-background").status == 0)
        }
        // The background packers finish on their own: loose objects do not pile up.
        #expect(eventually { !Self.packerRuns(for: box.repo) }, "a background packer never ended")
        let packs = try FileManager.default.contentsOfDirectory(atPath: box.repo + "/.git/objects/pack").filter { $0.hasSuffix(".pack") }
        #expect(!packs.isEmpty, "no background pack was written")
        #expect(try looseObjects(box) < 200)

        // `agent gc` packs what is left (waiting for a running packer); `--auto` with nothing due is silent.
        let gc = try box.agent("gc")
        #expect(gc.status == 0 && ["packed\n", "nothing to pack\n"].contains(gc.stdout), "\(gc.stdout)\(gc.stderr)")
        #expect(try looseObjects(box) == 0)
        let again = try box.agent("gc")
        #expect(again.status == 0 && again.stdout == "nothing to pack\n", "\(again.stdout)")
        let auto = try box.agent("gc", "--auto")
        #expect(auto.status == 0 && auto.stdout.isEmpty)
        let fsck = try box.git("fsck", "--strict", "--no-dangling")
        #expect(fsck.status == 0, "\(fsck.stderr)")
        #expect(try box.agent("render", "K3").stdout == "K3='value-59-background'\n")
    }

    /// A clone that only pulls writes no loose objects, but each fetch that brings objects adds
    /// a pack: those are rolled up too, so packs do not pile up on a server.
    @Test func pullsDoNotPileUpPacks() throws {
        let team = try SyncTests.Team()
        let server = try team.clone("server")
        let packFolder = server + "/.git/objects/pack"
        func packs() throws -> Int {
            try FileManager.default.contentsOfDirectory(atPath: packFolder).filter { $0.hasSuffix(".pack") }.count
        }
        var most = 0
        for index in 0..<14 {
            #expect(try team.agent(team.box.repo, "update", "A", stdin: "pulled-value-\(index)").status == 0)
            #expect(try team.agent(team.box.repo, "sync").status == 0)
            #expect(try team.agent(server, "sync", "--pull-only").status == 0)
            #expect(eventually { !Self.packerRuns(for: server) }, "a background packer never ended")
            most = max(most, try packs())
        }
        #expect(most <= 9, "packs piled up: \(most)")
        #expect(try team.render(server).hasPrefix("A='pulled-value-13'"))
        try team.fsck(server)
    }

    /// In a linked worktree the objects live in the main repository's folder: packing looks there.
    @Test func packsFromALinkedWorktree() throws {
        let box = try Sandbox()
        #expect(try box.agent("init").status == 0)
        let worktree = box.root + "/wt"
        #expect(try box.git("worktree", "add", "-q", "-b", "wt", worktree).status == 0)
        for index in 0..<30 {
            #expect(try box.agent(["set", "K\(index % 5)"], stdin: "worktree-\(index)-value", cwd: worktree).status == 0)
        }
        #expect(try box.agent(["gc"], cwd: worktree).status == 0)
        #expect(try looseObjects(box) == 0)
        #expect(try box.agent(["render", "K4"], cwd: worktree).stdout == "K4='worktree-29-value'\n")
        let fsck = try box.git("fsck", "--strict", "--no-dangling")
        #expect(fsck.status == 0, "\(fsck.stderr)")
    }
}
