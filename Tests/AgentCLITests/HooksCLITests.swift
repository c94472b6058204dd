import Foundation
import Testing

/// The git hooks, installed with `agent hooks install` and driven by the real git CLI.
@Suite struct HooksCLITests {
    static let openAIKey = "sk-proj-abcdefghijklmnop789"
    static let prodPassword = "Pr0d-Passw0rd-4f8e2c"

    /// PATH with the built agent first: the hook scripts call `agent` by name.
    static let pathWithAgent = URL(fileURLWithPath: agentBinary).deletingLastPathComponent().path + ":"
        + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")

    /// A store with a dev and a prod secret, a committed app file, and the hooks installed.
    func guardedRepository() throws -> Sandbox {
        let box = try Sandbox()
        #expect(try box.agent("init").status == 0)
        #expect(try box.agent("set", "OPENAI_KEY", stdin: Self.openAIKey).status == 0)
        #expect(try box.agent("set", "SHORT", stdin: "1234567").status == 0)
        #expect(try box.agent("set", "DB_PASSWORD", "--env", "prod", stdin: Self.prodPassword).status == 0)
        try box.write("print('hello')\n", to: "app.py")
        try box.write(".env\n", to: ".gitignore")
        try box.git("add", "app.py", ".gitignore")
        try box.git("commit", "-qm", "app")
        try box.git("config", "--unset", "merge.envagent.driver") // as in a fresh clone
        let installed = try box.agent("hooks", "install")
        #expect(installed.status == 0, "\(installed.stderr)")
        #expect(try box.git("config", "merge.envagent.driver").stdout.contains("merge-driver %O %A %B %P"))
        return box
    }

    @discardableResult
    func git(_ box: Sandbox, _ args: String..., env: [String: String] = [:], cwd: String? = nil) throws -> Result {
        try box.exec("/usr/bin/git", args, stdin: nil, env: ["PATH": Self.pathWithAgent].merging(env) { $1 }, cwd: cwd ?? box.repo)
    }

    func head(_ box: Sandbox, cwd: String? = nil) throws -> String {
        try box.git("rev-parse", "HEAD", cwd: cwd).stdout
    }

    /// Asserts `git commit` was refused by the leak guard, said `mentions`, and left HEAD alone.
    func expectBlocked(_ box: Sandbox, _ commitArgs: [String] = ["commit", "-qm", "leak"], mentions: [String],
                       env: [String: String] = [:], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let before = try head(box)
        let result = try box.exec("/usr/bin/git", commitArgs, stdin: nil,
                                  env: ["PATH": Self.pathWithAgent].merging(env) { $1 }, cwd: box.repo)
        #expect(result.status != 0, "commit was not blocked", sourceLocation: sourceLocation)
        #expect(try head(box) == before, "a commit happened", sourceLocation: sourceLocation)
        for text in mentions {
            #expect(result.stderr.contains(text), "missing '\(text)' in: \(result.stderr)", sourceLocation: sourceLocation)
        }
        #expect(!result.stderr.contains(Self.openAIKey) && !result.stderr.contains(Self.prodPassword)
                && !result.stdout.contains(Self.openAIKey), "a value was printed", sourceLocation: sourceLocation)
        #expect(result.stderr.contains("git commit --no-verify"), sourceLocation: sourceLocation)
    }

    @Test func leakGuardBlocksValuesInAnyPlaceAndEnvironment() throws {
        let box = try guardedRepository()
        // In the middle of a line, on line 3 of a new file.
        try box.write("import os\n\nclient = Client(key=\"\(Self.openAIKey)\", retries=3)\n", to: "src/config.py")
        try box.git("add", "src/config.py")
        try expectBlocked(box, mentions: ["src/config.py:3", "OPENAI_KEY (dev)", "commit blocked"])
        // The same check by hand, as the JSON envelope.
        let json = try box.agent("hooks", "run", "pre-commit", "--json")
        #expect(json.status == 7)
        let errors = json.envelope?["errors"] as? [[String: Any]]
        #expect(errors?.first?["loc"] as? [String] == ["src/config.py", "line 3"], "\(json.stderr)")
        #expect(errors?.first?["type"] as? String == "secret_value")
        try box.git("rm", "-q", "--cached", "src/config.py")

        // A value of a second environment, in a file bigger than 1 MiB, near its end.
        var big = String(repeating: "filler line without anything secret in it .............\n", count: 20_000)
        big += "password: \(Self.prodPassword)\n"
        #expect(big.utf8.count > 1 << 20)
        try box.write(big, to: "data/dump.yml")
        try box.git("add", "data/dump.yml")
        try expectBlocked(box, mentions: ["data/dump.yml:20001", "DB_PASSWORD (prod)"])
        try box.git("rm", "-q", "--cached", "data/dump.yml")

        // `git commit -a` commits a temporary index (GIT_INDEX_FILE): it is checked too.
        try box.write("print('hello')\nKEY = '\(Self.openAIKey)'\n", to: "app.py")
        try expectBlocked(box, ["commit", "-qam", "leak"], mentions: ["app.py:2", "OPENAI_KEY (dev)"])
        // … and so is `git commit PATH`.
        try expectBlocked(box, ["commit", "-qm", "leak", "app.py"], mentions: ["app.py:2"])

        // Values shorter than 8 bytes are not searched for; clean content commits.
        try box.write("print('hello')\nport = 1234567\n", to: "app.py")
        let clean = try git(box, "commit", "-qam", "clean")
        #expect(clean.status == 0, "\(clean.stderr)")
        #expect(clean.stderr.isEmpty, "\(clean.stderr)")
    }

    @Test func onlyAddedLinesCount() throws {
        let box = try guardedRepository()
        try box.write("a\n\(Self.openAIKey)\nb\n", to: "old-leak.txt")
        try box.git("add", "old-leak.txt")
        #expect(try git(box, "commit", "-qm", "old leak", "--no-verify").status == 0)
        // Changing another line of a file that already holds a value: not this commit's leak.
        try box.write("a changed\n\(Self.openAIKey)\nb\n", to: "old-leak.txt")
        #expect(try git(box, "commit", "-qam", "edit").status == 0)
        // Adding the value on a new line is.
        try box.write("a changed\n\(Self.openAIKey)\nb\nagain \(Self.openAIKey)\n", to: "old-leak.txt")
        try expectBlocked(box, ["commit", "-qam", "again"], mentions: ["old-leak.txt:4"])
    }

    @Test func renderedFilesAreBlockedStoreFilesAndTemplatesAreNot() throws {
        let box = try guardedRepository()
        try box.write("[target app]\nenvironment = dev\noutput = config/app.env\n", to: ".envagent/targets")
        try box.write("OPENAI_KEY=whatever-it-is\n", to: ".env")
        try box.git("add", "-f", ".env")
        try expectBlocked(box, mentions: [".env ", "rendered secrets file"])
        try box.git("rm", "-q", "--cached", ".env")
        try box.write("X=1\n", to: ".env.local")
        try box.write("X=1\n", to: "config/app.env")
        try box.git("add", ".env.local", "config/app.env")
        try expectBlocked(box, mentions: [".env.local", "config/app.env"])
        // --no-verify is the escape hatch.
        #expect(try git(box, "commit", "-qm", "on purpose", "--no-verify").status == 0)
        #expect(try box.git("show", "--name-only", "--format=", "HEAD").stdout == ".env.local\nconfig/app.env\n")

        // A template with placeholders, the targets file and the store's own (encrypted) files pass.
        try box.write("OPENAI_KEY=sk-proj-your-key-here\n", to: ".env.example")
        try box.git("add", ".env.example", ".envagent/targets")
        let older = try box.git("rev-list", "-1", "--grep=OPENAI_KEY (dev)", "HEAD").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        try box.git("checkout", older, "--", ".envagent/dev/secrets") // an older version, staged
        let status = try box.git("status", "--porcelain").stdout
        #expect(status.contains("M  .envagent/dev/secrets") && status.contains("A  .env.example"), "\(status)")
        let allowed = try git(box, "commit", "-qm", "config and store")
        #expect(allowed.status == 0, "\(allowed.stderr)")
        // …but a real value in a template is still a leak.
        try box.write("OPENAI_KEY=\(Self.openAIKey)\n", to: ".env.example")
        try expectBlocked(box, ["commit", "-qam", "leak"], mentions: [".env.example:1", "OPENAI_KEY (dev)"])
    }

    /// A plain `git commit` racing an agent write can leave the store files' previous version in
    /// the index (see `GitLockTests`): the hook restages HEAD's version when the work tree already
    /// has it. A user's own change of a store file is committed as it is.
    @Test func staleStoreIndexEntriesAreRestoredIntentionalChangesAreNot() throws {
        let box = try guardedRepository()
        let secrets = ".envagent/dev/secrets"
        func blob(_ spec: String) throws -> String { try box.git("rev-parse", spec).stdout.trimmingCharacters(in: .whitespacesAndNewlines) }
        let older = try box.git("rev-list", "-1", "--grep=OPENAI_KEY (dev)", "HEAD").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let headBlob = try blob("HEAD:" + secrets), olderBlob = try blob(older + ":" + secrets)
        #expect(olderBlob != headBlob)

        // As the race leaves it: an older committed version staged, the work tree at HEAD's.
        #expect(try box.git("update-index", "--cacheinfo", "100644,\(olderBlob),\(secrets)").status == 0)
        try box.write("one\n", to: "note.txt")
        try box.git("add", "note.txt")
        let restored = try git(box, "commit", "-qm", "note")
        #expect(restored.status == 0, "\(restored.stderr)")
        #expect(restored.stderr.contains("restored \(secrets) in the index to HEAD's version"), "\(restored.stderr)")
        #expect(try box.git("show", "--name-only", "--format=", "HEAD").stdout == "note.txt\n")
        #expect(try blob(":" + secrets) == headBlob)
        #expect(try box.git("status", "--porcelain").stdout.isEmpty)

        // An older version in the index and the work tree (a revert by hand): committed too.
        try box.git("checkout", older, "--", secrets)
        let reverted = try git(box, "commit", "-qm", "revert")
        #expect(reverted.status == 0 && !reverted.stderr.contains("restored"), "\(reverted.stderr)")
        #expect(try blob("HEAD:" + secrets) == olderBlob)

        // A staged edit that is no committed version, the work tree at HEAD's: committed as staged.
        try box.write("hand edit\n", to: secrets)
        try box.git("add", secrets)
        try box.git("restore", "--source=HEAD", "--worktree", secrets)
        #expect(try box.git("status", "--porcelain").stdout == "MM \(secrets)\n")
        let edited = try git(box, "commit", "-qm", "hand edit")
        #expect(edited.status == 0 && !edited.stderr.contains("restored"), "\(edited.stderr)")
        #expect(try box.git("show", "--name-only", "--format=", "HEAD").stdout == secrets + "\n")
    }

    @Test func identityKeysAreBlockedAndWithoutIdentityTheNameChecksStillRun() throws {
        let box = try guardedRepository()
        let identity = try String(contentsOfFile: box.root + "/config/envagent/identity", encoding: .utf8)
        let keyText = try #require(identity.split(separator: "\n").first { $0.hasPrefix("AGENT-SECRET-KEY-") })
        try box.write("ci:\n  AGENT_IDENTITY: \(keyText)\n", to: "ci.yml")
        try box.git("add", "ci.yml")
        let before = try head(box)
        let blocked = try git(box, "commit", "-qm", "ci")
        #expect(blocked.status != 0 && blocked.stderr.contains("ci.yml:2") && blocked.stderr.contains("identity secret key"))
        let after = try head(box)
        #expect(!blocked.stderr.contains(String(keyText)) && after == before)
        // Merely mentioning the prefix (documentation) is fine.
        try box.write("Keys start with AGENT-SECRET-KEY- and must stay private.\n", to: "ci.yml")
        try box.git("add", "ci.yml")
        #expect(try git(box, "commit", "-qm", "docs").status == 0)

        // No identity: values cannot be searched (said so), but .env and key texts still are.
        let noIdentity = ["XDG_CONFIG_HOME": box.root + "/nobody"]
        try box.write("KEY='\(Self.openAIKey)'\n", to: "settings.py")
        try box.git("add", "settings.py")
        let unchecked = try git(box, "commit", "-qm", "settings", env: noIdentity)
        #expect(unchecked.status == 0)
        #expect(unchecked.stderr.contains("value scan skipped (no identity"), "\(unchecked.stderr)")
        try box.write("X=1\n", to: ".env")
        try box.git("add", "-f", ".env")
        try expectBlocked(box, mentions: [".env", "value scan skipped"], env: noIdentity)
    }

    /// The pre-commit script of version 1 (which called `agent hook pre-commit`), as
    /// repositories installed before `agent hooks run` still have it. A test fixture.
    static let preCommitV1 = #"""
#!/bin/sh
# envagent-hook v1 pre-commit: the leak guard of EnvAgent (see its README, "Git hooks").
# Blocks staged .env files / render targets, current secret values and identity key texts.
# Skip it once with `git commit --no-verify`. `agent hooks uninstall` restores what was here before.
if [ -x "$0.envagent-chained" ]; then "$0.envagent-chained" "$@" || exit $?; fi
if ! command -v agent >/dev/null 2>&1; then
    echo "EnvAgent pre-commit: 'agent' is not on PATH, so the staged changes were not checked for secrets." >&2
    echo "Put agent on PATH, or commit with 'git commit --no-verify' to skip the check." >&2
    exit 1
fi
exec agent hook pre-commit "$@"

"""#

    /// A version-1 script keeps working (`agent hook` is kept, hidden, for it), `status` calls
    /// it older, and `install` updates it to the shipped script without --force.
    @Test func versionOneScriptsStillWorkAndInstallUpdatesThem() throws {
        let box = try guardedRepository()
        let path = box.repo + "/.git/hooks/pre-commit"
        try Self.preCommitV1.write(toFile: path, atomically: true, encoding: .utf8)
        #expect(chmod(path, 0o755) == 0)
        #expect(try box.agent("hooks", "status").stdout.contains("pre-commit     installed, older version"))
        try box.write("key = \"\(Self.openAIKey)\"\n", to: "leak.py")
        try box.git("add", "leak.py")
        try expectBlocked(box, mentions: ["leak.py:1", "OPENAI_KEY (dev)"])

        let install = try box.agent("hooks", "install", "--json")
        #expect(install.status == 0, "\(install.stderr)")
        let actions = try JSONSerialization.jsonObject(with: Data(install.stdout.utf8)) as? [[String: Any]]
        #expect(actions?.first { $0["name"] as? String == "pre-commit" }?["action"] as? String == "updated", "\(install.stdout)")
        let shipped = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("hooks/pre-commit").path
        #expect(try String(contentsOfFile: path, encoding: .utf8) == String(contentsOfFile: shipped, encoding: .utf8))
        #expect(try String(contentsOfFile: path, encoding: .utf8).contains("exec agent hooks run pre-commit \"$@\""))
        try expectBlocked(box, mentions: ["leak.py:1", "OPENAI_KEY (dev)"])

        // A version-1 script edited by hand is not overwritten without --force.
        try (Self.preCommitV1 + "# local tweak\n").write(toFile: path, atomically: true, encoding: .utf8)
        #expect(chmod(path, 0o755) == 0)
        #expect(try box.agent("hooks", "status").stdout.contains("pre-commit     EnvAgent's, edited by hand"))
        let refused = try box.agent("hooks", "install")
        #expect(refused.status != 0 && refused.stderr.contains("edited by hand"), "\(refused.stderr)")
        #expect(try String(contentsOfFile: path, encoding: .utf8).hasSuffix("# local tweak\n"))
        #expect(try box.agent("hooks", "install", "--force").status == 0)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == String(contentsOfFile: shipped, encoding: .utf8))
    }

    @Test func foreignHooksAreChainedAndRestoredByteForByte() throws {
        let box = try Sandbox()
        #expect(try box.agent("init").status == 0)
        let hooks = box.repo + "/.git/hooks"
        let userHook = "#!/bin/sh\necho \"user hook ran\" >> \"$(git rev-parse --git-dir)/user-hook.log\"\n[ ! -e block-me ]\n"
        try userHook.write(toFile: hooks + "/pre-commit", atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o750], ofItemAtPath: hooks + "/pre-commit")
        let install = try box.agent("hooks", "install")
        #expect(install.status == 0, "\(install.stderr)")
        #expect(install.stdout.contains("pre-commit.envagent-chained"))
        #expect(try box.agent("hooks", "install").stdout.contains("already installed"))
        let status = try box.agent("hooks", "status")
        #expect(status.stdout.contains("runs pre-commit.envagent-chained first"), "\(status.stdout)")

        try box.write("one\n", to: "a.txt")
        try box.git("add", "a.txt")
        #expect(try git(box, "commit", "-qm", "one").status == 0)
        #expect(try String(contentsOfFile: box.repo + "/.git/user-hook.log", encoding: .utf8) == "user hook ran\n")
        // The user's hook failing stops the commit.
        try box.write("", to: "block-me")
        try box.write("two\n", to: "a.txt")
        let before = try head(box)
        #expect(try git(box, "commit", "-qam", "two").status != 0)
        #expect(try head(box) == before)

        let uninstall = try box.agent("hooks", "uninstall")
        #expect(uninstall.status == 0, "\(uninstall.stderr)")
        #expect(try String(contentsOfFile: hooks + "/pre-commit", encoding: .utf8) == userHook)
        let mode = try FileManager.default.attributesOfItem(atPath: hooks + "/pre-commit")[.posixPermissions] as? Int
        #expect(mode == 0o750)
        let left = try FileManager.default.contentsOfDirectory(atPath: hooks).filter { !$0.hasSuffix(".sample") }
        #expect(left == ["pre-commit"], "\(left)")
    }

    @Test func honoursCoreHooksPathAndRefusesToClobber() throws {
        let box = try Sandbox()
        #expect(try box.agent("init").status == 0)
        try box.git("config", "core.hooksPath", ".githooks")
        #expect(try box.agent("hooks", "install").status == 0)
        for name in ["pre-commit", "post-checkout", "post-merge", "post-rewrite"] {
            #expect(FileManager.default.isExecutableFile(atPath: box.repo + "/.githooks/" + name), "\(name)")
            #expect(!FileManager.default.fileExists(atPath: box.repo + "/.git/hooks/" + name), "\(name)")
        }
        // A hand-edited copy is not replaced without --force, and nothing else is touched.
        let edited = box.repo + "/.githooks/post-merge"
        try (try String(contentsOfFile: edited, encoding: .utf8) + "echo mine\n").write(toFile: edited, atomically: true, encoding: .utf8)
        let refused = try box.agent("hooks", "install")
        #expect(refused.status == 6 && refused.stderr.contains("edited by hand"), "\(refused.stderr)")
        #expect(try box.agent("hooks", "install", "--force").status == 0)
        #expect(try box.agent("hooks", "status").stdout.contains("post-merge     installed"))
    }

    func renderedTargets(_ box: Sandbox) throws -> String {
        try String(contentsOfFile: box.repo + "/.env", encoding: .utf8)
    }

    func fileIdentity(_ path: String) throws -> String {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        return "\(attributes[.systemFileNumber] ?? "") \((attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0)"
    }

    @Test func checkoutsAndPullsRerenderTheTargets() throws {
        let box = try guardedRepository()
        try box.write("[target app]\nenvironment = dev\noutput = .env\nmode = 0640\n", to: ".envagent/targets")
        try box.git("add", ".envagent/targets")
        #expect(try git(box, "commit", "-qm", "targets").status == 0)
        // A mode wider than 0600 waits for this machine's approval.
        #expect(try box.agent("render", "--targets").status == 4)
        #expect(try box.agent("allow").status == 0)
        let first = try box.agent("render", "--targets")
        #expect(first.status == 0 && first.stdout.contains("written"), "\(first.stdout)\(first.stderr)")
        #expect(try renderedTargets(box) == "OPENAI_KEY='\(Self.openAIKey)'\nSHORT='1234567'\n")
        #expect(try FileManager.default.attributesOfItem(atPath: box.repo + "/.env")[.posixPermissions] as? Int == 0o640)
        #expect(try box.agent("render", "--targets").stdout.contains("unchanged"))

        // A branch with different secrets: switching re-renders, switching back restores.
        #expect(try git(box, "checkout", "-q", "-b", "feature").status == 0)
        #expect(try box.agent("set", "OPENAI_KEY", stdin: "sk-proj-feature-branch-value").status == 0)
        let toMain = try git(box, "checkout", "-q", "main") // main's store is what was rendered
        #expect(toMain.status == 0 && toMain.stderr.isEmpty, "\(toMain.stderr)")
        let toFeature = try git(box, "checkout", "-q", "feature")
        #expect(toFeature.status == 0 && toFeature.stderr.contains("EnvAgent: rendered .env (dev, 2 secrets)"), "\(toFeature.stderr)")
        #expect(try renderedTargets(box).contains("sk-proj-feature-branch-value"))
        #expect(try git(box, "checkout", "-q", "main").status == 0)
        #expect(try renderedTargets(box).contains(Self.openAIKey))
        #expect(try git(box, "checkout", "-q", "feature").status == 0)

        // A checkout that does not touch the store leaves the file alone (same inode and mtime).
        try box.write("docs\n", to: "README.txt")
        try box.git("add", "README.txt")
        #expect(try git(box, "commit", "-qm", "docs").status == 0)
        let before = try fileIdentity(box.repo + "/.env")
        #expect(try git(box, "checkout", "-q", "-b", "docs-only").status == 0)
        Thread.sleep(forTimeInterval: 0.05)
        let quiet = try git(box, "checkout", "-q", "feature")
        #expect(quiet.status == 0 && quiet.stderr.isEmpty, "\(quiet.stderr)")
        #expect(try fileIdentity(box.repo + "/.env") == before)

        // A clone with the hooks: `git pull` of a store change re-renders (post-merge).
        let clone = box.root + "/clone"
        #expect(try box.git("clone", "-q", "-b", "feature", box.repo, clone, cwd: box.root).status == 0)
        #expect(try box.agent("hooks", "install", cwd: clone).status == 0)
        #expect(try box.agent("allow", cwd: clone).status == 0) // an approval belongs to one clone
        #expect(try box.agent("render", "--targets", cwd: clone).status == 0)
        #expect(try box.agent("set", "OPENAI_KEY", stdin: "sk-proj-pulled-from-origin").status == 0)
        let pull = try git(box, "pull", "-q", "--no-rebase", cwd: clone)
        #expect(pull.status == 0, "\(pull.stderr)")
        #expect(try String(contentsOfFile: clone + "/.env", encoding: .utf8).contains("sk-proj-pulled-from-origin"))
        // A rebase that rewrites the branch onto a store change re-renders too (post-rewrite).
        #expect(try box.agent("set", "OPENAI_KEY", stdin: "sk-proj-after-rebase-value").status == 0)
        try "local\n".write(toFile: clone + "/local.txt", atomically: true, encoding: .utf8)
        try box.git("add", "local.txt", cwd: clone)
        #expect(try git(box, "commit", "-qm", "local", cwd: clone).status == 0)
        #expect(try git(box, "fetch", "-q", cwd: clone).status == 0)
        let rebase = try git(box, "rebase", "-q", "origin/feature", cwd: clone)
        #expect(rebase.status == 0, "\(rebase.stderr)")
        #expect(try String(contentsOfFile: clone + "/.env", encoding: .utf8).contains("sk-proj-after-rebase-value"))
    }

    /// A post-checkout at the commit last rendered answers from the recorded state without
    /// opening the repository's objects (strace lists the files a run opens, when installed;
    /// without it only the outcomes are checked); anything else it cannot vouch for goes
    /// through the full check.
    @Test func noOpPostCheckoutSkipsTheRepositoryOnlyWhenItCanVouchForTheResult() throws {
        let box = try guardedRepository()
        try box.write("[target app]\nenvironment = dev\noutput = .env\n", to: ".envagent/targets")
        try box.git("add", ".envagent/targets")
        #expect(try git(box, "commit", "-qm", "targets").status == 0)
        #expect(try box.agent("render", "--targets").status == 0)
        let start = try head(box).trimmingCharacters(in: .whitespacesAndNewlines)
        // Through a resident agent the command runs in a process the agent forks, which strace
        // on the client does not follow: only the outcomes are checked then.
        let strace = FileManager.default.isExecutableFile(atPath: "/usr/bin/strace") && !throughAgent
        let traceFile = box.root + "/opened.trace"
        /// Whether the last traced run opened anything under `.git/objects`; nil without strace.
        func readsObjects() -> Bool? {
            guard strace else { return nil }
            return ((try? String(contentsOfFile: traceFile, encoding: .utf8)) ?? "").contains("/objects")
        }
        func traced(_ args: [String], cwd: String? = nil) throws -> Result {
            guard strace else { return try box.agent(args, cwd: cwd) }
            return try box.exec("/usr/bin/strace", ["-f", "-qq", "-e", "trace=open,openat", "-o", traceFile, agentBinary] + args,
                                stdin: nil, env: [:], cwd: cwd ?? box.repo)
        }
        func hook(_ old: String, _ new: String, cwd: String? = nil) throws -> Result {
            try traced(["hooks", "run", "post-checkout", old, new, "1"], cwd: cwd)
        }
        func messages(_ result: Result) -> [Substring] { result.stderr.split(separator: "\n") }
        // The probe sees the objects read when a command does read them.
        #expect(try traced(["list"]).status == 0)
        #expect(readsObjects() != false)

        let before = try fileIdentity(box.repo + "/.env")
        let noOp = try hook(start, start)
        #expect(noOp.status == 0 && messages(noOp).isEmpty && readsObjects() != true, "\(noOp.stderr)")
        #expect(try fileIdentity(box.repo + "/.env") == before)

        // An edited targets file is not vouched for: the full check renders (mode changed).
        try box.write("[target app]\nenvironment = dev\noutput = .env\nmode = 0400\n", to: ".envagent/targets")
        let edited = try hook(start, start)
        #expect(readsObjects() != false && edited.stderr.contains("EnvAgent: rendered .env"), "\(edited.stderr)")
        #expect(try FileManager.default.attributesOfItem(atPath: box.repo + "/.env")[.posixPermissions] as? Int == 0o400)
        #expect(try hook(start, start).status == 0 && readsObjects() != true)

        // Another commit with the same store: the full check, silent, then it is remembered.
        try box.write("docs\n", to: "README.txt")
        try box.git("add", "README.txt")
        #expect(try git(box, "commit", "-qm", "docs").status == 0)
        let docs = try head(box).trimmingCharacters(in: .whitespacesAndNewlines)
        let rendered = try fileIdentity(box.repo + "/.env")
        let moved = try hook(start, docs)
        #expect(moved.status == 0 && messages(moved).isEmpty && readsObjects() != false, "\(moved.stderr)")
        #expect(try String(contentsOfFile: box.repo + "/.git/envagent-rendered", encoding: .utf8).hasSuffix(" \(docs)\n"))
        #expect(try hook(docs, docs).status == 0 && readsObjects() != true)
        #expect(try fileIdentity(box.repo + "/.env") == rendered)

        // A store change at the new commit is never taken for a no-op, whatever the state says.
        #expect(try box.agent("set", "SHORT", stdin: "7654321").status == 0)
        let changed = try head(box).trimmingCharacters(in: .whitespacesAndNewlines)
        let rerendered = try hook(docs, changed)
        #expect(rerendered.stderr.contains("EnvAgent: rendered .env"), "\(rerendered.stderr)")
        #expect(try renderedTargets(box).contains("SHORT='7654321'"))

        // A linked worktree (`.git` is a file naming its git folder) takes the same short cut.
        let worktree = box.root + "/worktree"
        #expect(try box.git("worktree", "add", "-q", "-b", "wt", worktree).status == 0)
        #expect(try box.agent("render", "--targets", cwd: worktree).status == 0)
        let inWorktree = try hook(changed, changed, cwd: worktree)
        #expect(inWorktree.status == 0 && messages(inWorktree).isEmpty && readsObjects() != true, "\(inWorktree.stderr)")
    }

    @Test func postHooksWarnButNeverFailGit() throws {
        let box = try guardedRepository()
        try box.write("[target app]\nenvironment = dev\noutput = .env\nmode = 77777\n", to: ".envagent/targets")
        #expect(try git(box, "checkout", "-q", "-b", "other").status == 0)
        #expect(try box.agent("set", "OPENAI_KEY", stdin: "sk-proj-something-else-entirely").status == 0)
        let checkout = try git(box, "checkout", "-q", "main")
        #expect(checkout.status == 0)
        #expect(checkout.stderr.contains("warning") && checkout.stderr.contains(".envagent/targets line 4"), "\(checkout.stderr)")
        // render --targets reports the same error with its exit code (invalid_request).
        let render = try box.agent("render", "--targets")
        #expect(render.status == 2 && render.stderr.contains("line 4"))
    }

    @Test func scanHistoryNamesTheCommitThatIntroducedAValue() throws {
        let box = try guardedRepository()
        try box.write("token = \"\(Self.openAIKey)\"\n", to: "notes/todo.md")
        try box.git("add", "notes/todo.md")
        #expect(try git(box, "commit", "-qm", "oops", "--no-verify").status == 0)
        let leakCommit = try head(box).trimmingCharacters(in: .whitespacesAndNewlines)
        try box.write("token = \"removed\"\n", to: "notes/todo.md")
        try box.git("commit", "-qam", "remove it")
        for index in 0..<2 {
            try box.write("\(index)\n", to: "more.txt")
            try box.git("add", "more.txt")
            try box.git("commit", "-qm", "more \(index)")
        }
        #expect(try box.agent("scan").status == 0)
        let history = try box.agent("scan", "--history")
        #expect(history.status == 7, "\(history.stdout)\(history.stderr)")
        #expect(history.stdout.contains("notes/todo.md:1  value of OPENAI_KEY (dev)  (commit \(leakCommit.prefix(12)))"), "\(history.stdout)")
        #expect(!history.stdout.contains(Self.openAIKey) && !history.stderr.contains(Self.openAIKey))
        let json = try box.agent("scan", "--history", "--json")
        #expect(json.stdout.contains("\"commit\":\"\(leakCommit)\""), "\(json.stdout)")
        // A working-tree scan finds an untracked file holding a value, by line.
        try box.write("x\ny = \(Self.prodPassword)\n", to: "scratch.txt")
        let tree = try box.agent("scan")
        #expect(tree.status == 7 && tree.stdout.contains("scratch.txt:2  value of DB_PASSWORD (prod)"), "\(tree.stdout)")
    }
}
