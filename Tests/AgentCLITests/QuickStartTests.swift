import Foundation
import Testing

/// The README quick start, run against the built binary in real temp repositories.
@Suite struct QuickStartTests {
    static let openAIKey = "sk-proj-abcdefghijklmnop789"
    static let databaseURL = "postgres://app:s3cr3t-Pa55@db.internal:5432/app"

    @Test func quickStart() throws {
        let box = try Sandbox()
        #expect(try box.agent("whoami").stdout.hasPrefix("agent-pub-"))
        let initialized = try box.agent("init")
        #expect(initialized.status == 0, "\(initialized.stderr)")
        let created = try box.agent("create", "OPENAI_KEY", stdin: Self.openAIKey + "\n")
        #expect(created.status == 0, "\(created.stderr)")
        #expect(created.stdout.contains("sk-pro••••789"))
        #expect(!created.stdout.contains(Self.openAIKey))
        #expect(try box.agent("set", "DATABASE_URL", stdin: Self.databaseURL).status == 0)
        let updated = try box.agent("update", "OPENAI_KEY", "--json", stdin: "sk-proj-0000000000000000000999\n")
        #expect(updated.status == 0)
        let metadata = try JSONSerialization.jsonObject(with: Data(updated.stdout.utf8)) as? [String: Any]
        #expect(metadata?["masked_value"] as? String == "sk-pro••••999")
        #expect(metadata?["write_only"] as? Bool == false)
        #expect(Set(metadata?.keys.map { $0 } ?? []) == ["name", "env_var", "environment", "masked_value", "created_at", "updated_at", "write_only"])
        let list = try box.agent("list")
        #expect(list.stdout.contains("OPENAI_KEY") && list.stdout.contains("DATABASE_URL"))
        #expect(!list.stdout.contains("s3cr3t"))
        #expect(try box.agent("get", "DATABASE_URL", "--reveal").stdout == Self.databaseURL + "\n")
        let rendered = try box.agent("render")
        #expect(rendered.stdout == "DATABASE_URL='\(Self.databaseURL)'\nOPENAI_KEY='sk-proj-0000000000000000000999'\n")
        #expect(try box.agent("render", "OPENAI_KEY").stdout == "OPENAI_KEY='sk-proj-0000000000000000000999'\n")
        #expect(try box.agent("envs").stdout.contains("dev"))
        let log = try box.git("log", "--format=%s").stdout
        #expect(log == "update OPENAI_KEY (dev)\ncreate DATABASE_URL (dev)\ncreate OPENAI_KEY (dev)\ninit EnvAgent store (dev)\n")
        let history = try box.agent("history", "OPENAI_KEY")
        #expect(history.stdout.components(separatedBy: "\n").filter { $0.contains("OPENAI_KEY") }.count == 2)
        #expect(try box.agent("delete", "OPENAI_KEY").status == 0)
        #expect(try box.agent("get", "OPENAI_KEY").status == 5)
    }

    @Test func noPlaintextInAnyGitObjectAndFsckIsClean() throws {
        let box = try Sandbox()
        #expect(try box.agent("init").status == 0)
        let values = (0..<5).map { "plaintext-marker-\($0)-\(UUID().uuidString)" }
        for (index, value) in values.enumerated() {
            #expect(try box.agent("set", "S\(index)", stdin: value).status == 0)
        }
        #expect(try box.agent("update", "S0", stdin: "plaintext-marker-updated").status == 0)
        #expect(try box.agent("import", "-", stdin: "IMPORTED=plaintext-marker-imported\n").status == 0)
        let fsck = try box.git("fsck", "--strict", "--no-dangling")
        #expect(fsck.status == 0, "\(fsck.stderr)")
        let objects = try box.allGitObjects()
        #expect(objects.contains(".envagent") || objects.contains("secrets"))
        #expect(!objects.contains("plaintext-marker"))
        let identity = try String(contentsOfFile: box.root + "/config/envagent/identity", encoding: .utf8)
        #expect(!objects.contains("AGENT-SECRET-KEY-"))
        #expect(identity.contains("AGENT-SECRET-KEY-"))
    }

    @Test func gitStatusStaysCleanAndOtherStagedWorkIsUntouched() throws {
        let box = try Sandbox()
        #expect(try box.agent("init").status == 0)
        try box.write("base\n", to: "app.txt")
        try box.git("add", "app.txt")
        try box.git("commit", "-qm", "app")
        try box.write("staged change\n", to: "app.txt")
        try box.write("new file\n", to: "new.txt")
        try box.git("add", "app.txt", "new.txt")
        let statusBefore = try box.git("status", "--porcelain").stdout
        for index in 0..<3 {
            #expect(try box.agent("set", "K\(index)", stdin: "value-\(index)").status == 0)
        }
        #expect(try box.agent("update", "K1", stdin: "value-changed").status == 0)
        #expect(try box.git("status", "--porcelain").stdout == statusBefore)
        #expect(statusBefore == "M  app.txt\nA  new.txt\n")
        let lastCommitFiles = try box.git("show", "--name-only", "--format=", "HEAD").stdout
        #expect(lastCommitFiles == ".envagent/dev/secrets\n")
        let onDisk = try String(contentsOfFile: box.repo + "/.envagent/dev/secrets", encoding: .utf8)
        #expect(onDisk == (try box.git("show", "HEAD:.envagent/dev/secrets").stdout))
    }

    @Test func renderedEnvFileIsReadByPythonDotenv() throws {
        let box = try Sandbox()
        #expect(try box.agent("init").status == 0)
        let values = ["A": "simple", "B": "has spaces # and hash", "C": "it's quoted", "D": "multi\nline",
                      "E": "C:\\path\\to", "F": "$NOT_EXPANDED and `cmd`", "G": "ünïcødé 🔑"]
        for (name, value) in values {
            #expect(try box.agent("set", name, stdin: value + "\n").status == 0)
        }
        let output = box.root + "/out.env"
        #expect(try box.agent("render", "-o", output).status == 0)
        let attributes = try FileManager.default.attributesOfItem(atPath: output)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let script = "import json,sys\nfrom dotenv import dotenv_values\nprint(json.dumps(dotenv_values(sys.argv[1])))"
        let read = try box.exec("/usr/bin/env", ["python3", "-c", script, output], stdin: nil, env: [:], cwd: box.root)
        #expect(read.status == 0, "\(read.stderr)")
        let parsed = try JSONSerialization.jsonObject(with: Data(read.stdout.utf8)) as? [String: String]
        #expect(parsed == values)
        let refused = try box.agent("set", "CR", stdin: "a\rb")
        #expect(refused.status == 0)
        let render = try box.agent("render", "--json-free-name-check-is-not-a-flag")
        #expect(render.status == 64)
        let bad = try box.agent("render", "CR")
        #expect(bad.status == 7)
        #expect(bad.stderr.contains("CR") && bad.stderr.contains("carriage return"))
        #expect(try box.agent("render", "CR", "--format", "json").stdout == "{\"CR\":\"a\\rb\"}\n")
    }

    @Test func runPassesSecretsAndExitCode() throws {
        let box = try Sandbox()
        #expect(try box.agent("init").status == 0)
        #expect(try box.agent("set", "TOKEN", stdin: "tok-123").status == 0)
        // Output to a pipe is masked unless --no-mask (see RunMaskingCLITests).
        let result = try box.agent("run", "--no-mask", "--", "sh", "-c", "printf %s \"$TOKEN\"; exit 7")
        #expect(result.status == 7)
        #expect(result.stdout == "tok-123")
        let masked = try box.agent("run", "--", "sh", "-c", "printf %s \"$TOKEN\"; exit 7")
        #expect(masked.status == 7 && masked.stdout == "••••")
        let kept = try box.agent(["run", "--no-mask", "--no-override", "TOKEN", "--", "sh", "-c", "printf %s \"$TOKEN\""], env: ["TOKEN": "inherited"])
        #expect(kept.stdout == "inherited")
        let overridden = try box.agent(["run", "--no-mask", "TOKEN", "--", "sh", "-c", "printf %s \"$TOKEN\""], env: ["TOKEN": "inherited"])
        #expect(overridden.stdout == "tok-123")
        #expect(try box.agent("run", "--", "/nonexistent/cmd").status == 127)
    }

    @Test func importIsOneCommitAndNamesTheBadLine() throws {
        let box = try Sandbox()
        #expect(try box.agent("init").status == 0)
        let head = try box.git("rev-parse", "HEAD").stdout
        try box.write("A=1\nB=2\nC 3\n", to: "bad.env")
        let bad = try box.agent("import", "bad.env")
        #expect(bad.status == 2)
        #expect(bad.stderr.contains("line 3"))
        #expect(try box.git("rev-parse", "HEAD").stdout == head)
        try box.write((0..<50).map { "VAR_\($0)=value-\($0)" }.joined(separator: "\n") + "\n", to: "good.env")
        #expect(try box.agent("import", "good.env").status == 0)
        #expect(try box.git("rev-list", "--count", "HEAD").stdout == "2\n")
        #expect(try box.agent("get", "VAR_42", "--reveal").stdout == "value-42\n")
    }

    @Test func valueFlagWarnsAboutArgv() throws {
        let box = try Sandbox()
        #expect(try box.agent("init").status == 0)
        let result = try box.agent("set", "A", "--value", "visible-value")
        #expect(result.status == 0)
        #expect(result.stderr.contains("warning: --value"))
        #expect(!result.stderr.contains("visible-value"))
    }

    @Test func initWorksInBareAndUnbornRepositories() throws {
        let box = try Sandbox()
        let bare = box.root + "/bare.git"
        #expect(try box.agent("init", "--bare", "--store", bare).status == 0)
        #expect(try box.agent("set", "A", "--store", bare, stdin: "in-bare").status == 0)
        #expect(try box.agent("get", "A", "--reveal", "--store", bare).stdout == "in-bare\n")
        #expect(try box.git("--git-dir", bare, "rev-list", "--count", "HEAD").stdout == "2\n")
        let unborn = box.root + "/unborn"
        try FileManager.default.createDirectory(atPath: unborn, withIntermediateDirectories: true)
        try box.git("init", "-q", cwd: unborn)
        #expect(try box.agent("init", cwd: unborn).status == 0)
        #expect(try box.git("status", "--porcelain", cwd: unborn).stdout.isEmpty)
        let sub = unborn + "/deep/folder"
        try FileManager.default.createDirectory(atPath: sub, withIntermediateDirectories: true)
        #expect(try box.agent("set", "FROM_SUBDIR", stdin: "x", cwd: sub).status == 0)
    }
}
