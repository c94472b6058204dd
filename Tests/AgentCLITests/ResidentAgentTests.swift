import AgentWire
import EnvAgentCore
import Foundation
import TestSupport
import Testing

/// The resident agent (`agent start`) and the thin client, through the built binaries.
@Suite struct ResidentAgentTests {
    /// Starts the sandbox's agent (or finds the one `throughAgent` started) and returns its pid.
    static func start(_ box: Sandbox, _ extra: [String] = []) throws -> pid_t {
        let started = try box.agent(["start"] + extra)
        try #require(started.status == 0, "agent start: \(started.stderr)")
        let status = try box.agent("status", "--json")
        let fields = try #require(try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: String],
                                  "status: \(status.stdout) \(status.stderr)")
        return try #require(fields["pid"].flatMap { pid_t($0) })
    }

    static func requestsServed(_ box: Sandbox) throws -> Int {
        let status = try box.agent("status", "--json")
        let fields = try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: String]
        return fields?["requests"].flatMap { Int($0) } ?? -1
    }

    static func isRunning(_ pid: pid_t) -> Bool {
        // A zombie still answers kill(0): read its state.
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return false }
        return !stat.contains(") Z ")
    }

    /// A client process whose standard input stays open until the test writes or closes it, so
    /// its request (`agent set`, which reads the value from stdin) is in flight meanwhile.
    static func blockedSet(_ box: Sandbox, name: String, cwd: String? = nil) throws -> (Process, Pipe, Pipe) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: agentBinary)
        process.arguments = ["set", name]
        process.currentDirectoryURL = URL(fileURLWithPath: cwd ?? box.repo)
        process.environment = ProcessInfo.processInfo.environment.merging(box.environment) { $1 }.filter { !$0.value.isEmpty }
        let input = Pipe(), errors = Pipe()
        process.standardInput = input
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        return (process, input, errors)
    }

    static func waitForExit(_ process: Process) -> Bool {
        eventually { !process.isRunning }
    }

    @Test func commandsPrintTheSameThroughTheAgent() throws {
        let box = try Sandbox()
        #expect(try box.agent("init").status == 0)
        #expect(try box.agent("set", "OPENAI_KEY", stdin: "sk-proj-abcdefghijklmnop789").status == 0)
        let inProcess = ["AGENT_NO_DAEMON": "1"]
        let commands: [[String]] = [["list"], ["list", "--json"], ["render"], ["get", "OPENAI_KEY"],
                                    ["get", "NOPE", "--json"], ["get", "bad*name"], ["verify"], ["nosuch"], ["--help"]]
        _ = try Self.start(box)
        let served = try Self.requestsServed(box)
        for command in commands {
            let direct = try box.agent(command, env: inProcess)
            let through = try box.agent(command)
            #expect(direct.stdout == through.stdout, "\(command): stdout differs")
            #expect(direct.stderr == through.stderr, "\(command): stderr differs")
            #expect(direct.status == through.status, "\(command): exit \(direct.status) vs \(through.status)")
        }
        #expect(try Self.requestsServed(box) == served + commands.count, "every command went through the agent")
        #expect(try box.agent("run", "--", "sh", "-c", "exit 7").status == 7)
    }

    /// `agent run` resolves the environment in the agent and execs in the client: the command's
    /// parent is whoever ran `agent`, and it sees the secret.
    @Test func runExecsInTheClient() throws {
        let box = try Sandbox()
        #expect(try box.agent("init").status == 0)
        #expect(try box.agent("set", "TOKEN", stdin: "value-12345").status == 0)
        _ = try Self.start(box)
        let run = try box.agent("run", "--no-mask", "--", "sh", "-c", "echo \"$PPID $TOKEN\"")
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout == "\(ProcessInfo.processInfo.processIdentifier) value-12345\n")
    }

    @Test func stopWipesAndRemovesTheSocket() throws {
        let box = try Sandbox()
        let pid = try Self.start(box)
        let socket = box.root + "/agent-run/agent.sock"
        #expect(FileManager.default.fileExists(atPath: socket))
        #expect(FileIO.mode(box.root + "/agent-run") == 0o700)
        let stopped = try box.agent("stop")
        #expect(stopped.status == 0, "\(stopped.stderr)")
        #expect(stopped.stdout == "unset AGENT_SOCK AGENT_PID;\n")
        #expect(eventually { !Self.isRunning(pid) }, "the agent still runs")
        #expect(!FileManager.default.fileExists(atPath: socket))
        let status = try box.agent("status", "--json")
        #expect(status.status == AgentUnavailable.exitCode)
        #expect(status.envelope?["type"] as? String == "agent_unavailable")
    }

    @Test func lifetimeEnds() throws {
        let box = try Sandbox()
        _ = try box.agent("stop") // the one `throughAgent` started has no lifetime
        let pid = try Self.start(box, ["--lifetime", "2s"])
        #expect(try box.agent("status").status == 0)
        #expect(eventually { !Self.isRunning(pid) }, "the agent outlived its lifetime")
        #expect(!FileManager.default.fileExists(atPath: box.root + "/agent-run/agent.sock"))
        #expect(try box.agent("start", "--lifetime", "0s").status == AgentError.Kind.validationError.exitCode)
    }

    /// An agent whose socket was removed or replaced can never be reached: it stops within its
    /// check interval (10 s) rather than hold the key for nobody, and never removes the socket of
    /// the agent that replaced it. (Polls /proc: the agent is not this process's child.)
    @Test func agentStopsWhenItsSocketIsGone() throws {
        let box = try Sandbox()
        let socket = box.root + "/agent-run/agent.sock"
        let first = try Self.start(box)
        try FileManager.default.moveItem(atPath: socket, toPath: socket + ".moved")
        let second = try Self.start(box)
        #expect(second != first)
        #expect(eventually { !Self.isRunning(first) }, "the agent outlived its socket")
        #expect(Self.isRunning(second))
        #expect(FileManager.default.fileExists(atPath: socket), "the replaced agent removed its successor's socket")
        #expect(try Self.start(box) == second, "the successor still answers")
        try FileManager.default.removeItem(atPath: socket)
        #expect(eventually { !Self.isRunning(second) }, "the agent outlived its removed socket")
    }

    /// A socket left by an agent that died is replaced; the client ignores it meanwhile.
    @Test func staleSocketIsReplaced() throws {
        let box = try Sandbox()
        let pid = try Self.start(box)
        kill(pid, SIGKILL)
        #expect(eventually { !Self.isRunning(pid) })
        #expect(FileManager.default.fileExists(atPath: box.root + "/agent-run/agent.sock"), "kill -9 leaves the socket")
        #expect(try box.agent("init").status == 0, "a stale socket: the command runs in-process")
        let replaced = try Self.start(box)
        #expect(replaced != pid)
        #expect(try box.agent("list").status == 0)
        #expect(try Self.requestsServed(box) == 1)
    }

    /// kill -9 of the agent while it runs a request: the client says so and exits, no hang, and
    /// the request's process dies with the agent.
    @Test func agentKilledMidRequestIsAClearError() throws {
        let box = try Sandbox()
        #expect(try box.agent("init").status == 0)
        let pid = try Self.start(box)
        let served = try Self.requestsServed(box)
        let (client, input, errors) = try Self.blockedSet(box, name: "K")
        #expect(eventually { (try? Self.requestsServed(box)) == served + 1 }, "the request never reached the agent")
        kill(pid, SIGKILL)
        #expect(Self.waitForExit(client), "the client hangs after the agent died")
        try? input.fileHandleForWriting.close()
        guard !client.isRunning else { client.terminate(); return }
        #expect(client.terminationStatus == AgentUnavailable.exitCode)
        let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(stderr.contains("the resident agent ended before the command finished"), "\(stderr)")
        #expect(try box.agent("get", "K").status == AgentError.Kind.notFound.exitCode)
    }

    /// Ctrl-C in the client stops the request in the agent; the agent itself goes on.
    @Test func interruptCancelsTheRequest() throws {
        let box = try Sandbox()
        #expect(try box.agent("init").status == 0)
        let pid = try Self.start(box)
        let served = try Self.requestsServed(box)
        let (client, input, _) = try Self.blockedSet(box, name: "K")
        #expect(eventually { (try? Self.requestsServed(box)) == served + 1 })
        kill(client.processIdentifier, SIGINT)
        #expect(Self.waitForExit(client), "SIGINT did not end the request")
        try? input.fileHandleForWriting.close()
        guard !client.isRunning else { client.terminate(); return }
        #expect(client.terminationReason == .uncaughtSignal && client.terminationStatus == SIGINT)
        #expect(Self.isRunning(pid))
        #expect(try box.agent("get", "K").status == AgentError.Kind.notFound.exitCode, "nothing was written")
    }

    /// Two repositories at once: a request blocked in one does not hold up the other; and every
    /// request sees what git did in between.
    @Test func servesTwoRepositoriesAndSeesGitChanges() throws {
        let box = try Sandbox()
        let other = box.root + "/other"
        try FileManager.default.createDirectory(atPath: other, withIntermediateDirectories: true)
        #expect(try box.agent("init").status == 0)
        #expect(try box.agent(["init"], cwd: other).status == 0)
        _ = try Self.start(box)
        let served = try Self.requestsServed(box)
        let (client, input, errors) = try Self.blockedSet(box, name: "FIRST")
        #expect(eventually { (try? Self.requestsServed(box)) == served + 1 })
        #expect(try box.agent(["set", "SECOND"], stdin: "two-2222", cwd: other).status == 0, "the other repository waits")
        input.fileHandleForWriting.write(Data("one-1111".utf8))
        try input.fileHandleForWriting.close()
        #expect(Self.waitForExit(client))
        #expect(client.terminationStatus == 0, "\(String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))")
        #expect(try box.agent("get", "FIRST", "--reveal").stdout == "one-1111\n")
        #expect(try box.agent(["get", "SECOND", "--reveal"], cwd: other).stdout == "two-2222\n")
        // The git CLI moves the branch between two requests.
        #expect(try box.agent("update", "FIRST", stdin: "changed-3333").status == 0)
        #expect(try box.git("reset", "-q", "--hard", "HEAD~1").status == 0)
        #expect(try box.agent("get", "FIRST", "--reveal").stdout == "one-1111\n")
    }

    /// Only this user's processes are served: the agent checks the peer's uid (SO_PEERCRED), and
    /// the client uses no socket in a folder others can enter.
    @Test(.enabled(if: getuid() == 0, "needs root to run a second user"))
    func anotherUserIsRefused() throws {
        let user = "envagent-peer"
        if try runProcess("/usr/bin/id", [user]).status != 0 {
            let added = try runProcess("/usr/sbin/useradd", ["-M", "-s", "/usr/sbin/nologin", user])
            try #require(added.status == 0, "useradd: \(added.stderr)")
        }
        let box = try Sandbox()
        #expect(try box.agent("init").status == 0)
        _ = try Self.start(box)
        let served = try Self.requestsServed(box)
        // Open the way to the socket for everyone, as a careless setup would.
        for path in [box.root, box.root + "/agent-run"] { chmod(path, 0o711) }
        chmod(box.root + "/agent-run/agent.sock", 0o777)
        let probe = """
            import socket
            s = socket.socket(socket.AF_UNIX)
            s.connect(\"\(box.root)/agent-run/agent.sock\")
            s.settimeout(5)
            try:
                s.sendall(bytes([0x50, 0, 0, 0, 0]))
                print(len(s.recv(100)))
            except (BrokenPipeError, ConnectionResetError):
                print(0)
            """
        let asOther = try runProcess("/usr/bin/setpriv", ["--reuid=\(user)", "--regid=\(user)", "--clear-groups",
                                                         "/usr/bin/python3", "-c", probe])
        #expect(asOther.status == 0, "\(asOther.stderr)")
        #expect(asOther.stdout == "0\n", "the agent answered another user")
        // This user's client does not trust a folder others can enter: it runs in-process.
        #expect(try box.agent("list").status == 0)
        chmod(box.root + "/agent-run", 0o700)
        #expect(try Self.requestsServed(box) == served)
    }

    /// A passphrase-protected identity: `agent start` asks once (here from
    /// AGENT_PASSPHRASE_FILE), then commands work through the agent without it; without the
    /// agent a non-interactive command fails with authentication_failed and the hint; a wrong
    /// passphrase starts no agent.
    @Test func passphraseIdentityIsAskedOnceAtStart() throws {
        let box = try Sandbox(keygen: false)
        _ = try box.agent("stop")
        let passphrase = box.root + "/passphrase", wrong = box.root + "/wrong"
        try "correct horse battery staple\n".write(toFile: passphrase, atomically: true, encoding: .utf8)
        try "not it\n".write(toFile: wrong, atomically: true, encoding: .utf8)
        let keygen = try box.agent(["keygen", "--passphrase", "--kdf", "interactive"], env: ["AGENT_NEW_PASSPHRASE_FILE": passphrase])
        #expect(keygen.status == 0, "\(keygen.stderr)")
        let refused = try box.agent(["start"], env: ["AGENT_PASSPHRASE_FILE": wrong])
        #expect(refused.status == AgentError.Kind.authenticationFailed.exitCode, "\(refused.stderr)")
        #expect(try box.agent("status").status == AgentUnavailable.exitCode, "a wrong passphrase started an agent")
        let unasked = try box.agent("start")
        #expect(unasked.status == AgentError.Kind.authenticationFailed.exitCode, "no terminal, no passphrase file: \(unasked.stderr)")
        let started = try box.agent(["start"], env: ["AGENT_PASSPHRASE_FILE": passphrase])
        #expect(started.status == 0, "\(started.stderr)")
        try FileManager.default.removeItem(atPath: passphrase)
        #expect(try box.agent("init").status == 0)
        #expect(try box.agent("set", "K", stdin: "protected-value").status == 0)
        #expect(try box.agent("get", "K", "--reveal").stdout == "protected-value\n")
        let alone = try box.agent(["get", "K", "--reveal"], env: ["AGENT_NO_DAEMON": "1"])
        #expect(alone.status == AgentError.Kind.authenticationFailed.exitCode)
        #expect(alone.stderr.contains("agent start"), "\(alone.stderr)")
    }

    @Test func theClientsErrorMatchesTheCoreKind() {
        #expect(AgentError.Kind.agentUnavailable.rawValue == AgentUnavailable.type)
        #expect(AgentError.Kind.agentUnavailable.exitCode == AgentUnavailable.exitCode)
        #expect(AgentError.Kind.agentUnavailable.httpStatus == AgentUnavailable.httpStatus)
    }
}
