import Foundation
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A pushed `.envagent/targets` cannot make a clone write outside its work tree, widen a mode or
/// run a command until that clone's user ran `agent allow`; `.git` is never written. The built
/// binary, the real git CLI with the hooks installed, and `agent watch` as a process.
@Suite struct TargetConsentCLITests {
    static let value = "sk-proj-abcdefghijklmnop789"

    /// The repository everybody pushes to, with one secret, and a member's clone of it with the hooks.
    func originAndClone() throws -> (box: Sandbox, clone: String) {
        let box = try Sandbox()
        #expect(try box.agent("init").status == 0)
        #expect(try box.agent("set", "OPENAI_KEY", stdin: Self.value).status == 0)
        try box.write(".env\n", to: ".gitignore")
        try box.git("add", ".gitignore")
        try box.git("commit", "-qm", "ignore .env")
        let clone = box.root + "/clone"
        #expect(try box.git("clone", "-q", box.repo, clone, cwd: box.root).status == 0)
        let installed = try box.agent("hooks", "install", cwd: clone)
        #expect(installed.status == 0, "\(installed.stderr)")
        return (box, clone)
    }

    /// Commits `text` as the targets file of the origin, as anyone who can push may.
    func commitTargets(_ box: Sandbox, _ text: String) throws {
        try box.write(text, to: ".envagent/targets")
        try box.git("add", ".envagent/targets")
        #expect(try box.git("commit", "-qm", "render targets").status == 0)
    }

    func pull(_ box: Sandbox, into clone: String) throws -> Result {
        try box.exec("/usr/bin/git", ["pull", "-q", "--no-rebase"], stdin: nil,
                     env: ["PATH": HooksCLITests.pathWithAgent], cwd: clone)
    }

    func read(_ path: String) -> String? { try? String(contentsOfFile: path, encoding: .utf8) }

    @Test func aPulledTargetOutsideTheWorkTreeWaitsForAllow() throws {
        let (box, clone) = try originAndClone()
        try FileManager.default.createDirectory(atPath: box.root + "/outside", withIntermediateDirectories: true)
        let outsideFile = box.root + "/outside/app.env"
        let targets = "[target app]\nenvironment = dev\noutput = .env\n\n[target server]\nenvironment = dev\noutput = \(outsideFile)\nmode = 0644\n"
        try commitTargets(box, targets)

        // post-merge renders the private file in the work tree and only warns about the other.
        let pulled = try pull(box, into: clone)
        #expect(pulled.status == 0, "\(pulled.stderr)")
        #expect(pulled.stderr.contains("EnvAgent: rendered .env"), "\(pulled.stderr)")
        for text in ["target 'server' needs this machine's approval", "writes outside the work tree: \(outsideFile)",
                     "mode 0644", "review .envagent/targets, then run agent allow"] {
            #expect(pulled.stderr.contains(text), "missing '\(text)' in: \(pulled.stderr)")
        }
        #expect(read(clone + "/.env") == "OPENAI_KEY='\(Self.value)'\n")
        #expect(!FileManager.default.fileExists(atPath: outsideFile))

        // render --targets: the same, exit 0 (not every target was skipped), the skipped one named.
        let render = try box.agent("render", "--targets", cwd: clone)
        #expect(render.status == 0, "\(render.stderr)")
        #expect(render.stdout.contains("skipped   \(outsideFile)  (target server, dev): target 'server' needs this machine's approval"), "\(render.stdout)")
        #expect(render.stderr.contains("1 target not rendered until this machine approves them"), "\(render.stderr)")
        #expect(!FileManager.default.fileExists(atPath: outsideFile))

        // agent allow says what it approves and why; then the target is written with its mode.
        let allow = try box.agent("allow", cwd: clone)
        #expect(allow.status == 0, "\(allow.stderr)")
        #expect(allow.stdout.contains("target server (\(outsideFile)): writes outside the work tree: \(outsideFile); mode 0644"), "\(allow.stdout)")
        #expect(!allow.stdout.contains("target app"))
        let approved = try box.agent("render", "--targets", cwd: clone)
        #expect(approved.status == 0 && approved.stdout.contains("written   \(outsideFile)"), "\(approved.stdout)\(approved.stderr)")
        #expect(read(outsideFile) == "OPENAI_KEY='\(Self.value)'\n")
        #expect(try FileManager.default.attributesOfItem(atPath: outsideFile)[.posixPermissions] as? Int == 0o644)

        // Upstream changes one byte of the targets file, and a value: the approval no longer
        // holds, the outside file keeps what it had, the work tree's file follows the store.
        try commitTargets(box, targets + "# reviewed\n")
        #expect(try box.agent("set", "OPENAI_KEY", stdin: "sk-proj-rotated-value-0001").status == 0)
        let changed = try pull(box, into: clone)
        #expect(changed.status == 0, "\(changed.stderr)")
        #expect(changed.stderr.contains("target 'server' needs this machine's approval (.envagent/targets changed since it was approved)"),
                "\(changed.stderr)")
        #expect(read(clone + "/.env") == "OPENAI_KEY='sk-proj-rotated-value-0001'\n")
        #expect(read(outsideFile) == "OPENAI_KEY='\(Self.value)'\n")
        let again = try box.agent("render", "--targets", cwd: clone)
        #expect(again.status == 0 && again.stdout.contains("skipped   \(outsideFile)"), "\(again.stdout)")
        #expect(read(outsideFile) == "OPENAI_KEY='\(Self.value)'\n")
    }

    @Test func everyTargetWaitingIsForbiddenAndRevokeWithdrawsTheApproval() throws {
        let box = try Sandbox()
        #expect(try box.agent("init").status == 0)
        #expect(try box.agent("set", "OPENAI_KEY", stdin: Self.value).status == 0)
        try box.write("[target app]\nenvironment = dev\noutput = app.env\nmode = 0640\n", to: ".envagent/targets")
        let render = try box.agent("render", "--targets")
        #expect(render.status == 4, "\(render.stdout)\(render.stderr)")
        #expect(render.stderr.contains("agent: error: target 'app' needs this machine's approval: mode 0640; review .envagent/targets, then run agent allow"),
                "\(render.stderr)")
        #expect(!FileManager.default.fileExists(atPath: box.repo + "/app.env"))
        let json = try box.agent("render", "--targets", "--json")
        #expect(json.stdout.contains(#""needs_approval":["mode 0640"]"#) && json.stdout.contains(#""outcome":"skipped""#), "\(json.stdout)")
        #expect(json.envelope?["type"] as? String == "forbidden")

        let allow = try box.agent("allow", "--json")
        #expect(allow.status == 0 && allow.stdout.contains(#""approved":true"#), "\(allow.stdout)\(allow.stderr)")
        let record = box.repo + "/.git/envagent-allowed"
        #expect(try FileManager.default.attributesOfItem(atPath: record)[.posixPermissions] as? Int == 0o600)
        #expect(try box.agent("render", "--targets").status == 0)
        #expect(try FileManager.default.attributesOfItem(atPath: box.repo + "/app.env")[.posixPermissions] as? Int == 0o640)

        let revoke = try box.agent("allow", "--revoke")
        #expect(revoke.status == 0 && revoke.stdout.contains("approval revoked"), "\(revoke.stdout)")
        #expect(try box.agent("allow", "--revoke").stdout.contains("nothing to revoke"))
        #expect(try box.agent("render", "--targets").status == 4)

        // Nothing to approve in a file of private files inside the work tree.
        try box.write("[target app]\nenvironment = dev\noutput = app.env\n", to: ".envagent/targets")
        let nothing = try box.agent("allow")
        #expect(nothing.status == 0 && nothing.stdout.contains("nothing to approve"), "\(nothing.stdout)")
        #expect(!FileManager.default.fileExists(atPath: record))
    }

    /// A committed symlink into `.git` makes a relative output land in the hooks folder: never
    /// written, whatever is approved.
    @Test func aCommittedSymlinkIntoGitIsRefusedEvenWhenAllowed() throws {
        let (box, clone) = try originAndClone()
        try FileManager.default.createSymbolicLink(atPath: box.repo + "/cfg", withDestinationPath: ".git/hooks")
        try box.git("add", "cfg")
        try commitTargets(box, "[target hook]\nenvironment = dev\noutput = cfg/pre-push\nmode = 0700\n")
        let hooks = clone + "/.git/hooks"
        let before = try FileManager.default.contentsOfDirectory(atPath: hooks).sorted()

        let pulled = try pull(box, into: clone)
        #expect(pulled.status == 0, "\(pulled.stderr)")
        #expect(pulled.stderr.contains("warning: cfg/pre-push not rendered") && pulled.stderr.contains("never written"), "\(pulled.stderr)")
        let allow = try box.agent("allow", cwd: clone)
        #expect(allow.status == 0 && allow.stdout.contains("never written, approved or not"), "\(allow.stdout)")
        let render = try box.agent("render", "--targets", cwd: clone)
        #expect(render.status == 2 && render.stdout.contains("failed") && render.stderr.contains("the repository's git folder"),
                "\(render.stdout)\(render.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: hooks).sorted() == before)
        #expect(!FileManager.default.fileExists(atPath: hooks + "/pre-push"))
    }

    /// `agent watch` renders a target with an on-change command, and runs the command, only for
    /// targets file content this machine approved; a pushed change (or SIGHUP) does not carry
    /// the approval over.
    @Test func watchRunsOnChangeOnlyOnceApproved() throws {
        let team = try SyncTests.Team()
        let targets = "[target app]\nenvironment = dev\noutput = app.env\nnames = A\non-change = echo first >> on-change.log\n"
        try team.box.write(targets, to: ".envagent/targets")
        #expect(try team.box.git("add", ".envagent/targets").status == 0)
        #expect(try team.box.git("commit", "-qm", "render targets").status == 0)
        #expect(try team.agent(team.box.repo, "sync").status == 0)
        let server = try team.clone("server")
        let target = server + "/app.env", onChangeLog = server + "/on-change.log", log = team.box.root + "/watch.log"

        #expect(FileManager.default.createFile(atPath: log, contents: nil))
        let watch = try team.box.startWatch(in: server, stderr: try FileHandle(forWritingTo: URL(fileURLWithPath: log)))
        defer { if watch.isRunning { watch.terminate() } }
        func logged(_ text: String) -> Int { (read(log) ?? "").components(separatedBy: text).count - 1 }

        // Several cycles: the target is skipped each time, the command never runs.
        #expect(eventually { logged("needs this machine's approval") >= 2 }, "\(read(log) ?? "")")
        #expect(!FileManager.default.fileExists(atPath: target) && !FileManager.default.fileExists(atPath: onChangeLog))

        let allow = try team.agent(server, "allow")
        #expect(allow.stdout.contains("runs on-change: echo first >> on-change.log"), "\(allow.stdout)")
        #expect(eventually { read(onChangeLog) == "first\n" }, "\(read(log) ?? "")")
        #expect(read(target) == "A='value-a-000000'\n")

        // A push changes the command and a value: pulled, but neither written nor run.
        try team.box.write(targets.replacingOccurrences(of: "echo first", with: "echo second"), to: ".envagent/targets")
        #expect(try team.box.git("commit", "-qam", "another command").status == 0)
        #expect(try team.agent(team.box.repo, "update", "A", stdin: "value-a-pushed-later").status == 0)
        #expect(try team.agent(team.box.repo, "sync").status == 0)
        let remoteHead = try team.remoteHead()
        #expect(eventually { (try? team.box.git("rev-parse", "HEAD", cwd: server).stdout) == remoteHead })
        let skippedBefore = logged("needs this machine's approval")
        #expect(eventually { logged("needs this machine's approval") > skippedBefore })
        kill(watch.processIdentifier, SIGHUP) // re-reads the targets: still the unapproved content
        #expect(eventually { logged("SIGHUP: re-reading the targets") == 1 })
        let cycles = logged("] sync\n")
        #expect(eventually { logged("] sync\n") >= cycles + 2 }, "\(read(log) ?? "")")
        #expect(read(onChangeLog) == "first\n" && read(target) == "A='value-a-000000'\n")

        #expect(try team.agent(server, "allow").status == 0)
        #expect(eventually { read(onChangeLog) == "first\nsecond\n" }, "\(read(log) ?? "")")
        #expect(read(target) == "A='value-a-pushed-later'\n")

        watch.terminate()
        #expect(eventually { !watch.isRunning })
        #expect(!(read(log) ?? "").contains("value-a-"))
    }
}
