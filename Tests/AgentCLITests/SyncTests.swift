import Foundation
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Sync through real git remotes (a bare repository over file paths and file:// URLs), the
/// built binary and the git CLI.
@Suite struct SyncTests {
    /// A bare remote and clones of it, all in one sandbox (one identity).
    struct Team: Sendable {
        let box: Sandbox
        let remote: String

        init() throws {
            box = try Sandbox()
            remote = box.root + "/remote.git"
            #expect(try box.git("init", "-q", "--bare", remote, cwd: box.root).status == 0)
            #expect(try box.agent("init", "--name", "alice").status == 0)
            #expect(try box.git("remote", "add", "origin", remote).status == 0)
            try box.write("A=value-a-000000\nB=value-b-111111\nC=value-c-222222\nD=value-d-333333\n", to: "seed.env")
            #expect(try box.agent("import", "seed.env").status == 0)
            #expect(try box.agent("sync").status == 0)
        }

        /// A new clone (by file:// URL) with the merge driver registered.
        func clone(_ name: String) throws -> String {
            let path = box.root + "/" + name
            #expect(try box.git("clone", "-q", "file://" + remote, path, cwd: box.root).status == 0)
            #expect(try box.agent(["setup-merge"], cwd: path).status == 0)
            return path
        }

        @discardableResult
        func agent(_ clone: String, _ args: String..., stdin: String? = nil) throws -> Result {
            try box.agent(args, stdin: stdin, cwd: clone)
        }

        func render(_ clone: String) throws -> String { try agent(clone, "render").stdout }

        func remoteHead() throws -> String {
            try box.git("--git-dir", remote, "rev-parse", "main", cwd: box.root).stdout
        }

        func fsck(_ path: String) throws {
            let result = try box.git("fsck", "--strict", cwd: path)
            #expect(result.status == 0, "\(path): \(result.stderr)")
        }
    }

    @Test func threeClonesConvergeWhenSyncingInParallel() async throws {
        let team = try Team()
        let clones = try ["c1", "c2", "c3"].map { try team.clone($0) }
        for (index, clone) in clones.enumerated() {
            let name = ["A", "B", "C"][index]
            #expect(try team.agent(clone, "update", name, stdin: "from-clone-\(index + 1)-value").status == 0)
            #expect(try team.agent(clone, "set", "NEW_\(index + 1)", stdin: "new-secret-\(index + 1)").status == 0)
        }
        // All three sync at once (pushes race; the losers fetch, merge and retry).
        let results = try await withThrowingTaskGroup(of: Result.self) { group in
            for clone in clones { group.addTask { try team.agent(clone, "sync", "--json") } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        for result in results { #expect(result.status == 0, "\(result.stderr)") }
        // A second round brings everyone to the same commit.
        for clone in clones { #expect(try team.agent(clone, "sync").status == 0) }
        for clone in clones { #expect(try team.agent(clone, "sync").stdout.hasPrefix("up-to-date")) }
        let expected = "A='from-clone-1-value'\nB='from-clone-2-value'\nC='from-clone-3-value'\nD='value-d-333333'\n"
            + "NEW_1='new-secret-1'\nNEW_2='new-secret-2'\nNEW_3='new-secret-3'\n"
        for clone in clones + [team.box.repo] {
            #expect(try team.agent(clone, "sync").status == 0)
            #expect(try team.render(clone) == expected, "\(clone)")
            #expect(try team.box.git("status", "--porcelain", "--untracked-files=no", cwd: clone).stdout.isEmpty)
            try team.fsck(clone)
        }
        try team.fsck(team.remote)
        #expect(try team.agent(clones[0], "verify").status == 0)
    }

    @Test func conflictStopsNothingIsPushedAndResolveFinishes() throws {
        let team = try Team()
        let other = try team.clone("other")
        #expect(try team.agent(other, "update", "A", stdin: "sk-proj-theirs-0000000001").status == 0)
        #expect(try team.agent(other, "update", "B", stdin: "theirs-b-value").status == 0)
        #expect(try team.agent(other, "sync").status == 0)
        let mine = team.box.repo
        #expect(try team.agent(mine, "update", "A", stdin: "sk-proj-ours-00000000002").status == 0)
        #expect(try team.agent(mine, "delete", "B").status == 0)
        #expect(try team.agent(mine, "update", "C", stdin: "ours-c-value").status == 0)
        let remoteBefore = try team.remoteHead()
        let headBefore = try team.box.git("rev-parse", "HEAD").stdout

        let stopped = try team.agent(mine, "sync", "--json")
        #expect(stopped.status == 12, "\(stopped.stderr)")
        #expect(stopped.envelope?["type"] as? String == "merge_conflict")
        #expect(stopped.envelope?["status"] as? Int == 409)
        let locs = (stopped.envelope?["errors"] as? [[String: Any]])?.compactMap { $0["loc"] as? [String] }
        #expect(locs == [["dev", "A"], ["dev", "B"]])
        #expect(stopped.stderr.contains("sk-pro••••001") && stopped.stderr.contains("sk-pro••••002"))
        #expect(stopped.stderr.contains("deleted by CLI Test"))
        #expect(!stopped.stderr.contains("sk-proj-ours") && !stopped.stderr.contains("theirs-b-value"))
        #expect(try team.remoteHead() == remoteBefore)
        #expect(try team.box.git("rev-parse", "HEAD").stdout == headBefore)

        let first = try team.agent(mine, "resolve", "A", "--theirs")
        #expect(first.status == 0 && first.stdout.contains("still to resolve: dev/B"), "\(first.stderr)")
        #expect(try team.agent(mine, "resolve", "C", "--ours").status == 5) // not a conflict
        let second = try team.agent(mine, "resolve", "B", stdin: "a-brand-new-b")
        #expect(second.status == 0 && second.stdout.contains("merged at"), "\(second.stderr)")
        #expect(try team.agent(mine, "sync").status == 0)
        #expect(try team.agent(other, "sync").status == 0)
        let expected = "A='sk-proj-theirs-0000000001'\nB='a-brand-new-b'\nC='ours-c-value'\nD='value-d-333333'\n"
        #expect(try team.render(mine) == expected)
        #expect(try team.render(other) == expected)
        #expect(try team.agent(mine, "resolve", "A", "--ours").status == 5) // nothing left to resolve
    }

    /// A base set on one clone while another adds a member to the base: sync merges the base's
    /// recipients (the new member and the agreement that dev builds on it), signed again, and
    /// both clones render dev layered.
    @Test func baseSetHereAndMemberAddedThereBothSurviveSync() throws {
        let team = try Team()
        #expect(try team.agent(team.box.repo, "set", "SHARED", "--env", "common", stdin: "common-value-01").status == 0)
        #expect(try team.agent(team.box.repo, "sync").status == 0)
        let other = try team.clone("other")
        let bob = try team.box.agent(["keygen"], env: ["XDG_CONFIG_HOME": team.box.root + "/bob"]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try team.agent(team.box.repo, "base", "common").status == 0)
        #expect(try team.agent(other, "recipients", "add", bob, "--name", "bob", "--env", "common").status == 0)
        #expect(try team.agent(other, "sync").status == 0)
        let merged = try team.agent(team.box.repo, "sync")
        #expect(merged.status == 0, "\(merged.stderr)")
        #expect(try team.agent(other, "sync").status == 0)
        for clone in [team.box.repo, other] {
            #expect(try team.render(clone).contains("SHARED='common-value-01'\n"), "\(clone)")
            let recipients = try team.box.git("show", "HEAD:.envagent/common/recipients", cwd: clone).stdout
            #expect(recipients.contains("\nbase-for dev\n") && recipients.contains(" bob\n"), "\(recipients)")
            #expect(try team.agent(clone, "verify", "--all-envs").status == 0)
        }
    }

    @Test func rotationOnOneSideAndAnUpdateOnTheOtherMergeUnderTheNewKey() throws {
        let team = try Team()
        let other = try team.clone("other")
        let bobHome = team.box.root + "/bob"
        let bob = try team.box.agent(["keygen"], env: ["XDG_CONFIG_HOME": bobHome]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try team.agent(team.box.repo, "recipients", "add", bob, "--name", "bob").status == 0)
        #expect(try team.agent(team.box.repo, "sync").status == 0)
        #expect(try team.agent(other, "sync").status == 0)
        // Here: Bob is removed (rotation). There: a value changes under the old key.
        #expect(try team.agent(team.box.repo, "recipients", "remove", "bob").status == 0)
        #expect(try team.agent(other, "update", "A", stdin: "changed-under-the-old-key").status == 0)
        #expect(try team.agent(other, "sync").status == 0)
        let merged = try team.agent(team.box.repo, "sync")
        #expect(merged.status == 0 && merged.stdout.hasPrefix("merged"), "\(merged.stderr)")
        #expect(try team.agent(other, "sync").status == 0)
        for clone in [team.box.repo, other] {
            #expect(try team.render(clone).hasPrefix("A='changed-under-the-old-key'\nB='value-b-111111'"))
            #expect(try team.agent(clone, "verify").status == 0)
            #expect(try team.agent(clone, "recipients", "list", "--json").stdout.contains("bob") == false)
        }
        // Bob's old access does not open the merged store.
        #expect(try team.box.agent(["render"], env: ["XDG_CONFIG_HOME": bobHome], cwd: other).status == 4)
    }

    @Test func gitPullMergesAdjacentLinesThroughTheMergeDriver() throws {
        let team = try Team()
        let other = try team.clone("other")
        #expect(try team.box.git("check-attr", "merge", ".envagent/dev/secrets", cwd: other).stdout.contains("envagent"))
        // B and C are adjacent lines: git's own line merge would conflict.
        #expect(try team.agent(other, "update", "B", stdin: "b-changed-there").status == 0)
        #expect(try team.box.git("push", "-q", "origin", "main", cwd: other).status == 0)
        #expect(try team.agent(team.box.repo, "update", "C", stdin: "c-changed-here").status == 0)
        let pull = try team.box.git("pull", "--no-rebase", "--no-edit", "-q", "origin", "main")
        #expect(pull.status == 0, "\(pull.stderr)")
        #expect(try team.render(team.box.repo) == "A='value-a-000000'\nB='b-changed-there'\nC='c-changed-here'\nD='value-d-333333'\n")
        #expect(try team.box.git("status", "--porcelain", "--untracked-files=no").stdout.isEmpty)
        #expect(try team.agent(team.box.repo, "verify").status == 0)
        try team.fsck(team.box.repo)
        // The same secret changed on both sides: the driver refuses, git reports a conflict.
        #expect(try team.agent(other, "sync").status == 0)
        #expect(try team.agent(other, "update", "A", stdin: "a-there").status == 0)
        #expect(try team.box.git("push", "-q", "origin", "main", cwd: other).status == 0)
        #expect(try team.agent(team.box.repo, "update", "A", stdin: "a-here").status == 0)
        let conflicting = try team.box.git("pull", "--no-rebase", "--no-edit", "-q", "origin", "main")
        #expect(conflicting.status != 0 && conflicting.stderr.contains("dev/A"), "\(conflicting.stderr)")
        #expect(!conflicting.stderr.contains("a-there") && !conflicting.stderr.contains("a-here"))
    }

    @Test func remoteFailuresMapToGatewayErrorsAndLoseNothing() throws {
        let team = try Team()
        #expect(try team.agent(team.box.repo, "update", "A", stdin: "kept-locally-0001").status == 0)
        // Unreachable: the remote folder moved away.
        try FileManager.default.moveItem(atPath: team.remote, toPath: team.remote + ".away")
        let unreachable = try team.agent(team.box.repo, "sync", "--json")
        #expect(unreachable.status == 10 && unreachable.envelope?["type"] as? String == "bad_gateway", "\(unreachable.stderr)")
        #expect(unreachable.stderr.contains("unreachable"))
        #expect(try team.render(team.box.repo).hasPrefix("A='kept-locally-0001'"))
        try FileManager.default.moveItem(atPath: team.remote + ".away", toPath: team.remote)
        #expect(try team.agent(team.box.repo, "sync").stdout.hasPrefix("pushed"))
        // No such remote.
        #expect(try team.agent(team.box.repo, "sync", "--remote", "nowhere").status == 5)
        // A server that accepts the connection and never answers: gateway_timeout.
        let listener = try SilentPeer()
        #expect(try team.box.git("remote", "add", "silent", "git://127.0.0.1:\(listener.port)/repo.git").status == 0)
        let started = Date()
        let timeout = try team.agent(team.box.repo, "sync", "--remote", "silent", "--timeout", "2", "--json")
        #expect(timeout.status == 11 && timeout.envelope?["type"] as? String == "gateway_timeout", "\(timeout.stderr)")
        #expect(Date().timeIntervalSince(started) < 15)
    }
}

/// `agent watch` against a real remote: a pushed change reaches the target, a dead remote
/// leaves it intact, SIGTERM stops the agent.
@Suite struct WatchTests {
    @Test func watchRendersPushedChangesAndSurvivesADeadRemote() throws {
        let team = try SyncTests.Team()
        try team.box.write("""
            [target app]
            environment = dev
            output = app.env
            names = A B
            on-change = echo changed >> on-change.log

            """, to: ".envagent/targets")
        #expect(try team.box.git("add", ".envagent/targets").status == 0)
        #expect(try team.box.git("commit", "-qm", "render targets").status == 0)
        #expect(try team.agent(team.box.repo, "sync").status == 0)
        let server = try team.clone("server")
        #expect(try team.agent(server, "allow").status == 0) // on-change runs only once approved here
        #expect(try team.agent(server, "render", "--targets").status == 0)
        let target = server + "/app.env"
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "A='value-a-000000'\nB='value-b-111111'\n")

        let log = try WatchLog(team.box.root + "/watch.log")
        let watch = try team.box.startWatch(in: server, stderr: log.handle)
        defer { if watch.isRunning { watch.terminate() } }

        #expect(try team.agent(team.box.repo, "update", "A", stdin: "pushed-while-watching").status == 0)
        #expect(try team.agent(team.box.repo, "sync").status == 0)
        let expected = "A='pushed-while-watching'\nB='value-b-111111'\n"
        #expect(eventually { (try? String(contentsOfFile: target, encoding: .utf8)) == expected })
        #expect(eventually { (try? String(contentsOfFile: server + "/on-change.log", encoding: .utf8)) == "changed\n" })
        #expect((try FileManager.default.attributesOfItem(atPath: target)[.posixPermissions] as? Int) == 0o600)

        // A teammate pushes a broken commit (a ciphertext that does not open): the file stays as it
        // was, the on-change command does not run, the agent logs the error and keeps running.
        let secretsFile = team.box.repo + "/.envagent/dev/secrets"
        let goodSecrets = try String(contentsOfFile: secretsFile, encoding: .utf8)
        let broken = goodSecrets.split(separator: "\n").map { line in
            line.hasPrefix("B ") ? line.split(separator: " ").dropLast().joined(separator: " ") + " a:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" : String(line)
        }.joined(separator: "\n") + "\n"
        try broken.write(toFile: secretsFile, atomically: true, encoding: .utf8)
        #expect(try team.box.git("commit", "-qam", "a broken ciphertext").status == 0)
        #expect(try team.box.git("push", "-q", "origin", "main").status == 0)
        #expect(eventually { log.count("does not decrypt") >= 1 }, "\(log.text)")
        #expect(watch.isRunning)
        #expect(try String(contentsOfFile: target, encoding: .utf8) == expected)
        #expect(try String(contentsOfFile: server + "/on-change.log", encoding: .utf8) == "changed\n")
        #expect(try team.box.git("revert", "--no-edit", "HEAD").status == 0)
        #expect(try team.box.git("push", "-q", "origin", "main").status == 0)

        // The revert arrives: the same values, nothing to rewrite.
        let revert = String(try team.remoteHead().prefix(10))
        #expect(eventually { log.count("commit=\(revert)") >= 1 }, "\(log.text)")

        // An edited targets file is picked up on the next cycle (its fingerprint is part of the
        // rendered state): a name added there is rendered without a restart.
        let targetsFile = server + "/.envagent/targets"
        let targets = try String(contentsOfFile: targetsFile, encoding: .utf8)
        try targets.replacingOccurrences(of: "names = A B", with: "names = A B C").write(toFile: targetsFile, atomically: true, encoding: .utf8)
        #expect(try team.agent(server, "allow").status == 0) // the edit needs a new approval
        let withC = expected + "C='value-c-222222'\n"
        #expect(eventually { (try? String(contentsOfFile: target, encoding: .utf8)) == withC })
        #expect(eventually { (try? String(contentsOfFile: server + "/on-change.log", encoding: .utf8)) == "changed\nchanged\n" })

        // SIGHUP re-reads the targets and renders every target again, even with nothing changed in
        // the store: a hand-edited output is put back.
        try "tampered\n".write(toFile: target, atomically: false, encoding: .utf8)
        #expect(log.waitForCycles(after: log.cycles), "\(log.text)")
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "tampered\n")
        kill(watch.processIdentifier, SIGHUP)
        #expect(eventually { (try? String(contentsOfFile: target, encoding: .utf8)) == withC })
        #expect(eventually { (try? String(contentsOfFile: server + "/on-change.log", encoding: .utf8)) == "changed\nchanged\nchanged\n" })

        // The remote disappears: the file stays, the agent logs bad_gateway and keeps running.
        try FileManager.default.moveItem(atPath: team.remote, toPath: team.remote + ".away")
        #expect(eventually { log.count("bad_gateway") >= 1 }, "\(log.text)")
        #expect(watch.isRunning)
        #expect(try String(contentsOfFile: target, encoding: .utf8) == withC)
        #expect(try String(contentsOfFile: server + "/on-change.log", encoding: .utf8) == "changed\nchanged\nchanged\n")

        watch.terminate() // SIGTERM: stops between cycles
        #expect(eventually { !watch.isRunning })
        #expect(watch.terminationStatus == 0)
        let output = log.text
        #expect(output.contains("bad_gateway") && output.contains("stopping"), "\(output)")
        #expect(output.contains("SIGHUP: re-reading the targets") && output.contains("does not decrypt"), "\(output)")
        #expect(output.contains("rewritten=app.env") || output.contains("rewritten: app.env") || output.contains("app.env"))
        #expect(!output.contains("pushed-while-watching"))
    }
}
