import Foundation
import TestSupport
import Testing

/// Agent writes next to the git CLI and after crashes: git's `index.lock` is held across the
/// branch move, stale locks are named, and no acknowledged value is ever reverted.
@Suite struct GitLockTests {
    /// Values as `render` prints them (`NAME='value'`).
    static func values(_ box: Sandbox) throws -> [String: String] {
        let rendered = try box.agent("render")
        try #require(rendered.status == 0, "render failed: \(rendered.stderr)")
        var values: [String: String] = [:]
        for line in rendered.stdout.split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            values[String(line[..<equals])] = String(line[line.index(after: equals)...]).trimmingCharacters(in: CharacterSet(charactersIn: "'\""))
        }
        return values
    }

    /// The iteration a value `v<N>` was written in.
    static func iteration(_ value: String?) -> Int { value.flatMap { Int($0.dropFirst()) } ?? -1 }

    /// Rounds of 100 `agent update` of distinct secrets, each racing `git commit` of an unrelated file in a
    /// loop, with the hooks installed: every acknowledged update is still there at the end. A
    /// plain `git commit` reads the index before it takes index.lock and may write what it read
    /// back over an agent write; the pre-commit hook restages HEAD's store files then (without
    /// it, the next commit would put the whole secrets file back).
    @Test func updatesRacingGitCommitAreNeverReverted() throws {
        let box = try Sandbox()
        #expect(try box.agent("init").status == 0)
        let count = 100
        try (0..<count).map { "K\($0)=old\n" }.joined().write(toFile: box.root + "/seed.env", atomically: true, encoding: .utf8)
        #expect(try box.agent("import", box.root + "/seed.env").status == 0)
        try box.write("start\n", to: "notes.txt")
        #expect(try box.git("add", "notes.txt").status == 0)
        #expect(try box.git("commit", "-qm", "notes").status == 0)
        #expect(try box.agent("hooks", "install").status == 0)
        let stop = box.root + "/stop"
        // git refuses while the agent holds index.lock: retry, as a script would.
        let script = """
            i=0
            while [ ! -e "$STOP" ]; do
              echo "line $i" >> notes.txt
              git add notes.txt 2>/dev/null && git commit -qm "note $i" 2>/dev/null
              i=$((i + 1))
            done
            """
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) {
            _ = try? box.exec("/bin/sh", ["-c", script], stdin: nil, env: ["STOP": stop, "PATH": HooksCLITests.pathWithAgent],
                              cwd: box.repo)
        }
        // The race starts once git is committing (a busy machine may be slow to start the loop).
        func notes() -> Int {
            ((try? box.git("log", "--format=%s").stdout) ?? "").split(separator: "\n").filter { $0.hasPrefix("note ") }.count
        }
        #expect(eventually { notes() >= 1 }, "the git commit loop never committed")
        let notesBefore = notes()
        // Rounds until git has committed in between (through a resident agent, one round can
        // finish before the loop's next commit); each secret keeps its last acknowledged value.
        var acknowledged: [Int: String] = [:]
        var attempts = 0, refusals = 0, round = 0
        repeat {
            round += 1
            for index in 0..<count {
                attempts += 1
                if try box.agent("update", "K\(index)", stdin: "new\(round)-\(index)").status == 0 {
                    acknowledged[index] = "new\(round)-\(index)"
                } else {
                    refusals += 1
                }
            }
        } while notes() == notesBefore && round < 10
        _ = FileManager.default.createFile(atPath: stop, contents: nil)
        group.wait()
        #expect(refusals <= attempts / 10, "most updates should get the lock: \(refusals) of \(attempts) refused")
        let values = try Self.values(box)
        let reverted = acknowledged.filter { values["K\($0.key)"] != $0.value }.map(\.key).sorted()
        #expect(reverted.isEmpty, "reverted: \(reverted)")
        #expect(notes() > notesBefore, "git committed while the updates ran")
        #expect(try box.git("status", "--porcelain", "--", ".envagent").stdout.isEmpty)
        #expect(try box.git("fsck", "--strict", "--no-dangling").status == 0)
    }

    /// The same race made deterministic: git runs the `core.fsmonitor` hook while it reads the
    /// index, before it takes index.lock, so an agent update run from there publishes inside
    /// that window. git then writes the index it read back (its own commit fails: the branch
    /// moved); the pre-commit hook restages HEAD's store file, so the next commit keeps the value.
    @Test func agentWriteInsideGitCommitsUnlockedIndexReadIsNotReverted() throws {
        let box = try Sandbox()
        #expect(try box.agent("init").status == 0)
        #expect(try box.agent("set", "K", stdin: "one").status == 0)
        try box.write("start\n", to: "notes.txt")
        #expect(try box.git("add", "notes.txt").status == 0)
        #expect(try box.git("commit", "-qm", "notes").status == 0)
        #expect(try box.agent("hooks", "install").status == 0)
        let armed = box.root + "/armed", monitor = box.root + "/fsmonitor.sh"
        // Exiting 1 makes git fall back to checking every file, as without a monitor.
        try "#!/bin/sh\nif [ -e '\(armed)' ]; then rm -f '\(armed)'; printf two | agent update K >/dev/null || exit 1; fi\nexit 1\n"
            .write(toFile: monitor, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: monitor)
        #expect(try box.git("config", "core.fsmonitor", monitor).status == 0)
        let path = ["PATH": HooksCLITests.pathWithAgent]
        try box.write("start\nmore\n", to: "notes.txt")
        #expect(try box.git("add", "notes.txt").status == 0)
        _ = FileManager.default.createFile(atPath: armed, contents: nil)
        let racing = try box.exec("/usr/bin/git", ["commit", "-qm", "racing"], stdin: nil, env: path, cwd: box.repo)
        #expect(!FileManager.default.fileExists(atPath: armed), "git did not run the fsmonitor hook")
        #expect(racing.stderr.contains("restored .envagent/dev/secrets in the index"), "\(racing.stderr)")
        #expect(try box.git("config", "--unset", "core.fsmonitor").status == 0)
        let next = try box.exec("/usr/bin/git", ["commit", "-qm", "next"], stdin: nil, env: path, cwd: box.repo)
        #expect(next.status == 0, "\(next.stderr)")
        #expect(try box.git("show", "--name-only", "--format=", "HEAD").stdout == "notes.txt\n")
        #expect(try Self.values(box)["K"] == "two")
        #expect(try box.git("status", "--porcelain").stdout.isEmpty)
    }

    /// The index an agent write leaves has a complete cache tree and fresh stat data, as git
    /// leaves it after a commit: a plain `git commit` right after finds nothing to refresh and
    /// does not rewrite it (so one that read it earlier has nothing stale to write back).
    @Test func gitCommitAfterAnAgentWriteLeavesTheIndexAlone() throws {
        let box = try Sandbox()
        #expect(try box.agent("init").status == 0)
        #expect(try box.agent("set", "K", stdin: "one").status == 0)
        try box.write("start\n", to: "notes.txt")
        #expect(try box.git("add", "notes.txt").status == 0)
        #expect(try box.git("commit", "-qm", "notes").status == 0)
        #expect(try box.agent("update", "K", stdin: "two").status == 0)
        // Past the index's own timestamp, so git does not treat the entries as racily clean.
        Thread.sleep(forTimeInterval: 1.1)
        let before = try FileManager.default.attributesOfItem(atPath: box.repo + "/.git/index")[.systemFileNumber] as? Int
        #expect(try box.git("commit", "--allow-empty", "-qm", "empty").status == 0)
        let after = try FileManager.default.attributesOfItem(atPath: box.repo + "/.git/index")[.systemFileNumber] as? Int
        #expect(before != nil && before == after, "git commit rewrote the index the agent wrote")
        #expect(try box.git("status", "--porcelain").stdout.isEmpty)
    }

    /// A lock left by a crashed git process fails the write at once with `locked`, naming the
    /// file; once it is removed, the write works.
    @Test(arguments: ["index.lock", "refs/heads/main.lock"])
    func staleGitLockIsNamed(lock: String) throws {
        let box = try Sandbox()
        #expect(try box.agent("init").status == 0)
        #expect(try box.agent("set", "A", stdin: "one").status == 0)
        let path = box.repo + "/.git/" + lock
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        let start = Date()
        let failed = try box.agent("update", "A", "--json", stdin: "two")
        #expect(Date().timeIntervalSince(start) < 1.5)
        #expect(failed.status == 14)
        #expect(failed.envelope?["type"] as? String == "locked")
        #expect((failed.envelope?["message"] as? String)?.contains(path) == true)
        #expect(try Self.values(box)["A"] == "one")
        #expect(try box.git("status", "--porcelain", "--", ".envagent").stdout.isEmpty)
        try FileManager.default.removeItem(atPath: path)
        #expect(try box.agent("update", "A", stdin: "two").status == 0)
        #expect(try Self.values(box)["A"] == "two")
    }

    /// An `index.lock` an agent left when it died (its record names a process that is gone) is
    /// taken over by the next write, which first puts the paths it names back to the branch's.
    @Test func lockOfADeadAgentIsRecovered() throws {
        let box = try Sandbox()
        #expect(try box.agent("init").status == 0)
        #expect(try box.agent("set", "A", stdin: "one").status == 0)
        let boot = try String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let gone = try box.exec("/bin/sh", ["-c", "echo $$"], stdin: nil, env: [:], cwd: box.root)
        let pid = gone.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        // The dead writer had staged a value that never got its commit.
        let secrets = box.repo + "/.envagent/dev/secrets"
        try "garbage\n".write(toFile: secrets, atomically: true, encoding: .utf8)
        #expect(try box.git("add", ".envagent/dev/secrets").status == 0)
        let lock = box.repo + "/.git/index.lock"
        try "envagent-lock 1\npid \(pid)\nboot \(boot)\nstart 1\npath .envagent/dev/secrets\n"
            .write(toFile: lock, atomically: true, encoding: .utf8)
        #expect(try box.agent("set", "B", stdin: "two").status == 0)
        #expect(!FileManager.default.fileExists(atPath: lock))
        #expect(try Self.values(box) == ["A": "one", "B": "two"])
        #expect(try box.git("status", "--porcelain").stdout.isEmpty)
        // A live owner (this test process) is not taken over.
        let live = String(ProcessInfo.processInfo.processIdentifier)
        let start = try String(contentsOfFile: "/proc/\(live)/stat", encoding: .utf8).split(separator: ")").last!.split(separator: " ")[19]
        try "envagent-lock 1\npid \(live)\nboot \(boot)\nstart \(start)\npath .envagent/dev/secrets\n"
            .write(toFile: lock, atomically: true, encoding: .utf8)
        #expect(try box.agent("set", "C", stdin: "three").status == 14)
        try FileManager.default.removeItem(atPath: lock)
    }

    /// The crash harness: kill -9 at a random moment of update, import, rotate and sync, each
    /// followed by the user's next `git add` + `git commit` (removing a lock when git names one,
    /// as its message says). No value whose command exited 0 is ever reverted, every next agent
    /// write works or names the lock, and `git fsck --strict` stays clean.
    /// `AGENT_CRASH_KILLS` sets the number of kills (default 100).
    @Test func killedWritesNeverRevertAcknowledgedValues() throws {
        let kills = Int(ProcessInfo.processInfo.environment["AGENT_CRASH_KILLS"] ?? "") ?? 100
        let box = try Sandbox()
        #expect(try box.git("init", "-q", "--bare", box.root + "/remote.git", cwd: box.root).status == 0)
        #expect(try box.agent("init").status == 0)
        #expect(try box.git("remote", "add", "origin", box.root + "/remote.git").status == 0)
        let keys = ["U0", "U1", "U2", "I0", "I1", "NEXT"]
        try keys.map { "\($0)=v0\n" }.joined().write(toFile: box.root + "/seed.env", atomically: true, encoding: .utf8)
        #expect(try box.agent("import", box.root + "/seed.env").status == 0)
        #expect(try box.agent("sync").status == 0)
        var acknowledged = Dictionary(uniqueKeysWithValues: keys.map { ($0, 0) })
        let environment = box.environment.merging(ProcessInfo.processInfo.environment.filter { $0.key == "PATH" }) { $1 }
            .filter { !$0.value.isEmpty }
        var interrupted = 0, lockErrors = 0, locksRemoved = 0

        /// Removes the lock files git names in `stderr`, as its hint tells the user to.
        func removeNamedLocks(_ stderr: String) -> Bool {
            var removed = false
            for lock in ["index.lock", "refs/heads/main.lock", "HEAD.lock"] where stderr.contains(lock) {
                removed = FileManager.default.fileExists(atPath: box.repo + "/.git/" + lock)
                try? FileManager.default.removeItem(atPath: box.repo + "/.git/" + lock)
            }
            return removed
        }

        for round in 1...kills {
            let value = "v\(round)"
            var written: [String] = []
            let process = Process()
            process.executableURL = URL(fileURLWithPath: agentBinary)
            process.currentDirectoryURL = URL(fileURLWithPath: box.repo)
            process.environment = environment
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            switch round % 4 {
            case 0, 1:
                let key = "U\(round % 3)"
                written = [key]
                let input = Pipe()
                process.standardInput = input
                process.arguments = ["update", key]
                input.fileHandleForWriting.write(Data(value.utf8))
                try input.fileHandleForWriting.close()
            case 2:
                written = ["I0", "I1"]
                try "I0=\(value)\nI1=\(value)\n".write(toFile: box.root + "/import.env", atomically: true, encoding: .utf8)
                process.arguments = ["import", box.root + "/import.env"]
            default:
                process.arguments = round % 8 == 3 ? ["rotate"] : ["sync"]
                // Locks a killed sync left in the fetch and push paths: removed, as the errors say.
                for lock in [box.repo + "/.git/FETCH_HEAD.lock", box.repo + "/.git/refs/remotes/origin/main.lock",
                             box.root + "/remote.git/refs/heads/main.lock"] where FileManager.default.fileExists(atPath: lock) {
                    try FileManager.default.removeItem(atPath: lock)
                    locksRemoved += 1
                }
            }
            try process.run()
            usleep(UInt32.random(in: 0...60_000))
            if process.isRunning {
                box.killCommand(process)
                interrupted += 1
            }
            process.waitUntilExit()
            if process.terminationReason == .exit && process.terminationStatus == 0 {
                for key in written { acknowledged[key] = round }
            }
            // Every other round the next agent command comes first: it must work or name a lock.
            if round % 2 == 1 {
                let next = try box.agent("update", "NEXT", "--json", stdin: value)
                if next.status == 0 {
                    acknowledged["NEXT"] = round
                } else {
                    #expect(next.status == 14 && next.envelope?["type"] as? String == "locked", "round \(round): \(next.stderr)")
                    lockErrors += 1
                    #expect(removeNamedLocks(next.stderr) || next.stderr.contains(".lock"))
                }
            }
            // The user's next commit of an unrelated file.
            try box.write("round \(round)\n", to: "notes.txt")
            var committed = false
            for _ in 0..<3 where !committed {
                let add = try box.git("add", "notes.txt")
                let commit = add.status == 0 ? try box.git("commit", "-qm", "note \(round)") : add
                committed = commit.status == 0
                if !committed {
                    #expect(removeNamedLocks(commit.stderr), "round \(round): git failed without naming a lock: \(commit.stderr)")
                    locksRemoved += 1
                }
            }
            #expect(committed, "round \(round): the user's commit failed")
            let values = try Self.values(box)
            for (key, acked) in acknowledged {
                #expect(Self.iteration(values[key]) >= acked, "round \(round): \(key) is \(values[key] ?? "gone"), acknowledged v\(acked)")
            }
        }
        let fsck = try box.git("fsck", "--strict")
        #expect(fsck.status == 0, "\(fsck.stdout)\(fsck.stderr)")
        #expect(interrupted >= kills / 4, "too few commands were killed mid-way: \(interrupted) of \(kills)")
        #expect(try box.agent("update", "NEXT", stdin: "final").status == 0)
        #expect(try FileManager.default.subpathsOfDirectory(atPath: box.repo + "/.envagent").filter { $0.contains(".tmp-") } == [])
        print("crash harness: \(kills) runs, \(interrupted) killed mid-way, \(lockErrors) named locks, \(locksRemoved) locks removed by the user")
    }
}
