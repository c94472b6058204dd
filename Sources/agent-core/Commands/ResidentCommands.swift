import AgentWire
import ArgumentParser
import EnvAgentCore
#if canImport(Glibc)
import Glibc
#endif

/// `agent start`: runs the resident agent for this user and prints the shell lines that point
/// commands at it (`eval "$(agent start)"`, as with ssh-agent).
struct StartCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "start",
        abstract: "Start the resident agent: commands then run through it, with the identity unlocked once.",
        discussion: """
            Listens on $AGENT_SOCK, else $XDG_RUNTIME_DIR/envagent/agent.sock, else \
            /tmp/envagent-UID/agent.sock (a 0700 folder). Prints `export` lines: eval "$(agent start)". \
            An agent already answering there is kept (its lines are printed again).
            """)

    @Option(name: .long, help: ArgumentHelp("Identity file, used when AGENT_IDENTITY and AGENT_IDENTITY_FILE are unset.", valueName: "file"))
    var identity: String?

    @Option(name: .long, help: ArgumentHelp("Stop (and wipe the key) after this long: 90s, 30m, 8h, 2d.", valueName: "duration"))
    var lifetime: String?

    @Flag(name: .long, help: "Stay in the foreground (for systemd and other supervisors); print nothing.")
    var foreground = false

    @Flag(name: .long, help: "Print machine-readable JSON; errors as the JSON envelope on stderr.")
    var json = false

    func run() throws {
        do {
            try execute()
        } catch let error as AgentError {
            Console.report(error, json: json)
            throw ExitCode(error.kind.exitCode)
        }
    }

    private func execute() throws {
        let path = AgentSocketPath.resolve()
        let lifetimeSeconds = try lifetime.map(Self.seconds)
        if let running = WireConnection.connect(to: path) {
            running.send(.ping)
            let pid = running.receive().map { String(decoding: $0.payload, as: UTF8.self) } ?? "?"
            running.close()
            Console.err("agent: an agent is already running (pid \(pid))")
            if !foreground { printExports(path: path, pid: pid) }
            return
        }
        let source = IdentitySource.fromEnvironment(flagFile: identity)
        guard source.environmentText == nil else {
            throw AgentError(.invalidRequest, "AGENT_IDENTITY is set: the resident agent holds an identity file, not a key text",
                             hint: "unset AGENT_IDENTITY (commands with it set run without the agent anyway)")
        }
        // Asked once, here, while the terminal is still ours (or AGENT_PASSPHRASE_FILE). The key
        // then lives only in guarded memory; no plain copy stays resident in the agent.
        var held: ResidentAgent.HeldIdentity?
        if FileIO.exists(source.file) {
            let unlocked = try source.unlockResident(passphraseProvider: .standard)
            held = (try GuardedKey(copying: unlocked.secretKey), unlocked.publicKeyText, source.file)
            ResidentIdentity.removeAll()
        }
        try Libgit2.initialize()
        let listener = try ResidentAgent.listen(at: path)
        let agent = ResidentAgent(configuration: .init(socketPath: path, identity: held, lifetimeSeconds: lifetimeSeconds),
                                  listener: listener)
        if foreground { agent.run() }
        let pid = fork()
        guard pid >= 0 else { throw AgentError(.internalError, "fork: \(FileIO.errnoMessage())") }
        if pid > 0 {
            printExports(path: path, pid: "\(pid)")
            return
        }
        // The agent: its own session, no terminal, streams on /dev/null, out of the way of unmounts.
        _ = setsid()
        let null = open("/dev/null", O_RDWR)
        for target in Int32(0)...2 { dup2(null, target) }
        if null > 2 { close(null) }
        _ = chdir("/")
        // Descriptors inherited from whoever started us (another program's pipes) must not
        // live as long as the agent: their readers would wait for an end of file.
        FileIO.closeDescriptors(above: 2, except: [listener])
        agent.run()
    }

    private func printExports(path: String, pid: String) {
        if json {
            Console.out("{\"pid\":\(Int(pid) ?? 0),\"socket\":\(JSONText.quoted(path))}")
        } else {
            let quoted = "'" + path.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "'\\''") + "'"
            Console.out("AGENT_SOCK=\(quoted); export AGENT_SOCK;\nAGENT_PID=\(pid); export AGENT_PID;\necho Agent pid \(pid);")
        }
    }

    /// `90s`, `30m`, `8h`, `2d` (a bare number is seconds); at most 366 days.
    static func seconds(_ text: String) throws -> Int {
        let units: [Character: Int] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        let unit = text.last.flatMap { units[$0] }
        let digits = unit == nil ? Substring(text) : text.dropLast()
        guard let value = Int(digits), value > 0, !digits.hasPrefix("+"),
              value <= 366 * 86400 / (unit ?? 1) else {
            throw AgentError(.validationError, "--lifetime must be a positive duration of at most 366 days, like 90s, 30m, 8h or 2d",
                             details: [.init(loc: ["lifetime"], msg: "not a duration", type: "invalid_duration")])
        }
        return value * (unit ?? 1)
    }
}

/// `agent stop`: the resident agent wipes its key, removes its socket and exits.
struct StopCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stop",
        abstract: "Stop the resident agent: it wipes the key and removes its socket. Prints `unset` lines for eval.")

    @Flag(name: .long, help: "Print machine-readable JSON; errors as the JSON envelope on stderr.")
    var json = false

    func run() throws {
        let (connection, path) = try Self.connect(json: json, hint: "nothing to stop; `agent start` runs one")
        connection.send(.stop)
        let pid = connection.receive().map { String(decoding: $0.payload, as: UTF8.self) } ?? "?"
        connection.close()
        // The socket is gone once the agent stopped taking requests.
        for _ in 0..<200 where FileIO.exists(path) { usleep(10_000) }
        if json {
            Console.out("{\"pid\":\(Int(pid) ?? 0),\"stopped\":true}")
        } else {
            Console.out("unset AGENT_SOCK AGENT_PID;")
            Console.err("agent: stopped the agent (pid \(pid))")
        }
    }
}

extension StopCommand {
    /// A connection to the agent at the resolved socket, or `agent_unavailable` reported.
    static func connect(json: Bool, hint: String) throws -> (WireConnection, String) {
        let path = AgentSocketPath.resolve()
        guard let connection = WireConnection.connect(to: path) else {
            let error = AgentError(.agentUnavailable, "no resident agent answers at \(path)", hint: hint)
            Console.report(error, json: json)
            throw ExitCode(error.kind.exitCode)
        }
        return (connection, path)
    }
}

/// `agent status`: whether an agent runs, its pid, identity, uptime and lifetime.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the resident agent: pid, socket, identity, uptime, requests served, lifetime left.")

    @Flag(name: .long, help: "Print machine-readable JSON; errors as the JSON envelope on stderr.")
    var json = false

    func run() throws {
        let (connection, _) = try StopCommand.connect(json: json, hint: "start one with: eval \"$(agent start)\"")
        connection.send(.status)
        let text = connection.receive().map { String(decoding: $0.payload, as: UTF8.self) } ?? ""
        connection.close()
        let fields = text.split(separator: "\n").map { line -> (String, String) in
            let space = line.firstIndex(of: " ") ?? line.endIndex
            return (String(line[..<space]), String(line[space...].dropFirst()))
        }
        if json {
            Console.out("{" + fields.map { "\(JSONText.quoted($0.0)):\(JSONText.quoted($0.1))" }.joined(separator: ",") + "}")
        } else {
            Console.table(["field", "value"], fields.map { [$0.0, $0.1] })
        }
    }
}
