import Foundation
import TestSupport
import Testing

/// The built `agent` binary: beside this test bundle in the build folder (or $AGENT_BIN).
let agentBinary: String = builtExecutable() ?? { fatalError("agent binary not found next to the test bundle; set AGENT_BIN") }()

typealias Result = ProcessResult

/// Whether the CLI suites run through a resident agent: `ENVAGENT_TEST_AGENT=1` (scripts/test.sh
/// runs them both ways, with the same assertions).
let throughAgent = ProcessInfo.processInfo.environment["ENVAGENT_TEST_AGENT"] == "1"

/// A sandbox: its own HOME / XDG_CONFIG_HOME (so its own identity) and a repo folder; with
/// `throughAgent`, its own resident agent (started after keygen, stopped at deinit).
final class Sandbox: Sendable {
    let root: String
    let environment: [String: String]

    init(keygen: Bool = true) throws {
        root = NSTemporaryDirectory() + "agent-cli-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: root + "/repo", withIntermediateDirectories: true)
        environment = [
            "HOME": root, "XDG_CONFIG_HOME": root + "/config", "AGENT_ENV": "",
            "AGENT_IDENTITY": "", "AGENT_IDENTITY_FILE": "", "AGENT_NO_DAEMON": "",
            "AGENT_SOCK": root + "/agent-run/agent.sock", "XDG_RUNTIME_DIR": "",
            "GIT_AUTHOR_NAME": "CLI Test", "GIT_AUTHOR_EMAIL": "cli@example.com",
            "GIT_COMMITTER_NAME": "CLI Test", "GIT_COMMITTER_EMAIL": "cli@example.com",
            "GIT_CONFIG_NOSYSTEM": "1",
        ]
        try "[user]\n\tname = CLI Test\n\temail = cli@example.com\n[init]\n\tdefaultBranch = main\n"
            .write(toFile: root + "/.gitconfig", atomically: true, encoding: .utf8)
        if keygen { try #require(agent("keygen").status == 0) }
        if throughAgent {
            let started = try agent("start")
            try #require(started.status == 0, "agent start: \(started.stderr)")
        }
    }

    deinit {
        if throughAgent { _ = try? agent("stop") }
        try? FileManager.default.removeItem(atPath: root)
    }

    var repo: String { root + "/repo" }

    /// kill -9 of a running `agent` command: the client process, and with `throughAgent` the
    /// process the agent forked for it (the one that writes), waiting until the agent saw it end.
    func killCommand(_ process: Process) {
        if throughAgent, let agent = try? agent("status", "--json").stdout,
           let fields = try? JSONSerialization.jsonObject(with: Data(agent.utf8)) as? [String: String],
           let pid = fields["pid"],
           let children = try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8) {
            for child in children.split(separator: " ").compactMap({ pid_t($0) }) { kill(child, SIGKILL) }
        }
        kill(process.processIdentifier, SIGKILL)
        guard throughAgent else { return }
        _ = eventually {
            let status = (try? agent("status", "--json").stdout) ?? ""
            return status.contains("\"running-requests\":\"0\"")
        }
    }

    @discardableResult
    func agent(_ args: String..., stdin: String? = nil, env: [String: String] = [:], cwd: String? = nil) throws -> Result {
        try exec(agentBinary, Array(args), stdin: stdin, env: env, cwd: cwd ?? repo)
    }

    @discardableResult
    func agent(_ args: [String], stdin: String? = nil, env: [String: String] = [:], cwd: String? = nil) throws -> Result {
        try exec(agentBinary, args, stdin: stdin, env: env, cwd: cwd ?? repo)
    }

    @discardableResult
    func git(_ args: String..., cwd: String? = nil) throws -> Result {
        try exec("/usr/bin/git", Array(args), stdin: nil, env: [:], cwd: cwd ?? repo)
    }

    func exec(_ path: String, _ args: [String], stdin: String?, env: [String: String], cwd: String) throws -> Result {
        try runProcess(path, args, cwd: cwd, stdin: stdin, environment: environment.merging(env) { $1 })
    }

    func write(_ text: String, to relative: String) throws {
        let path = repo + "/" + relative
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// Every object in the repository, raw, as the git CLI prints them.
    func allGitObjects() throws -> String {
        try git("cat-file", "--batch-all-objects", "--batch").stdout
    }
}

extension Sandbox {
    /// `agent watch --interval 1 --pull-only --timeout 5` in `clone`, running until terminated,
    /// its stderr to `stderr` (a `Pipe` or `FileHandle`).
    func startWatch(in clone: String, stderr: Any) throws -> Process {
        let watch = Process()
        watch.executableURL = URL(fileURLWithPath: agentBinary)
        watch.arguments = ["watch", "--interval", "1", "--pull-only", "--timeout", "5"]
        watch.currentDirectoryURL = URL(fileURLWithPath: clone)
        watch.environment = environment.merging(ProcessInfo.processInfo.environment.filter { $0.key == "PATH" }) { $1 }
            .filter { !$0.value.isEmpty }
        watch.standardError = stderr
        watch.standardOutput = FileHandle.nullDevice
        try watch.run()
        return watch
    }
}

/// The stderr of a long-running `agent watch`, written to a file the test reads while the
/// process runs.
struct WatchLog {
    let path: String
    let handle: FileHandle

    init(_ path: String) throws {
        self.path = path
        guard FileManager.default.createFile(atPath: path, contents: nil) else { throw CocoaError(.fileWriteUnknown) }
        handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
    }

    var text: String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

    func count(_ marker: String) -> Int { text.components(separatedBy: marker).count - 1 }

    /// Cycles finished so far: each one logs `sync` or `sync failed` as its message.
    var cycles: Int { count("] sync\n") + count("] sync failed\n") }

    /// Waits for `count` more cycles than `before` (a check that something did NOT happen needs
    /// the agent to have looked at least once after the change).
    func waitForCycles(after before: Int, _ count: Int = 2) -> Bool {
        eventually { cycles >= before + count }
    }
}

extension Result {
    /// The error envelope printed on stderr with --json.
    var envelope: [String: Any]? {
        try? JSONSerialization.jsonObject(with: Data(stderr.utf8)) as? [String: Any]
    }
}
