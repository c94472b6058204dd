import AgentWire
import CAgentSocket
#if canImport(Glibc)
import Glibc
#endif

// `agent`: the command users type. When a resident agent (`agent start`) answers on its
// socket, the command is sent there — arguments, working directory, umask, environment and this
// process's standard input, output and error — and runs in a process forked from the agent,
// which has the runtime, libgit2 and the unlocked identity loaded already; this process relays
// the exit status. Otherwise, or for the commands that manage the agent or run for long, it
// execs `agent-core` (beside this binary), which runs the command in-process. Either way the
// output is the same code writing to the same descriptors.

/// Commands that always run here: they start or ask the agent, run for long, or create keys.
let localCommands: Set<String> = ["start", "stop", "status", "serve", "watch", "keygen", "passphrase"]

func environment(_ name: String) -> String? { AgentWire.AgentSocketPath.environment(name) }

func writeError(_ text: String) {
    var text = text
    text.withUTF8 { utf8 in
        var offset = 0
        while offset < utf8.count {
            let n = write(2, utf8.baseAddress! + offset, utf8.count - offset)
            if n <= 0 { if n < 0 && errno == EINTR { continue }; return }
            offset += n
        }
    }
}

/// The in-process path: exec `agent-core` from this binary's folder with the same arguments.
func runInProcess(_ arguments: [String]) -> Never {
    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    let folder = length > 0 ? AgentSocketPath.folder(of: String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)) : "."
    let core = folder + "/agent-core"
    // argv as the kernel passed it: a `String` would have replaced invalid UTF-8.
    execv(core, CommandLine.unsafeArgv)
    writeError("agent: error: cannot run \(core): \(String(cString: strerror(errno)))\n")
    exit(127)
}

func shouldForward(_ arguments: [String]) -> Bool {
    if environment("AGENT_NO_DAEMON").map({ !$0.isEmpty && $0 != "0" }) ?? false { return false }
    // A key text in the environment belongs to this command alone: never sent anywhere.
    if let text = environment("AGENT_IDENTITY"), !text.isEmpty { return false }
    let command = arguments.dropFirst().first { !$0.hasPrefix("-") }
    return command.map { !localCommands.contains($0) } ?? true
}

func currentDirectory() -> [UInt8]? {
    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    guard getcwd(&buffer, buffer.count) != nil else { return nil }
    return buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
}

/// What the user sees when the agent went away mid-request, as any other error (`--json`:
/// the envelope on stderr).
func agentWentAway(_ arguments: [String]) -> Never {
    let message = "the resident agent ended before the command finished; it may or may not have taken effect"
    let hint = "run the command again; `agent status` tells whether an agent is running, and AGENT_NO_DAEMON=1 runs commands without it"
    if arguments.contains("--json") {
        writeError("{\"status\":\(AgentUnavailable.httpStatus),\"message\":\"\(message)\",\"errors\":[],\"type\":\"\(AgentUnavailable.type)\",\"hint\":\"\(hint)\"}\n")
    } else {
        writeError("agent: error: \(message)\nhint: \(hint)\n")
    }
    exit(AgentUnavailable.exitCode)
}

func cStrings(_ values: [String]) -> [UnsafeMutablePointer<CChar>?] { values.map { strdup($0) } + [nil] }

let arguments = CommandLine.arguments
guard shouldForward(arguments), let directory = currentDirectory(),
      let connection = WireConnection.connect(to: AgentSocketPath.resolve()) else {
    runInProcess(arguments)
}
let mask = umask(0o022)
umask(mask)
let request = WireRequest(directory: directory, umask: Int32(mask), arguments: Array(CString.arguments().dropFirst()),
                          environment: ProcessEnvironment.rawEntries())
// The terminal, when there is one: prompts (a passphrase, "reopen the editor?") go there, as
// in-process, although the request's process has no controlling terminal.
let terminal = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)
// A request ended by a signal while it prompted with echo off must not leave the terminal so.
var terminalModes = termios()
let terminalModesSaved = terminal >= 0 && tcgetattr(terminal, &terminalModes) == 0
guard connection.send(.run, request.encoded, fds: terminal >= 0 ? [0, 1, 2, terminal] : [0, 1, 2]) else {
    connection.close()
    runInProcess(arguments) // the agent went away before it took the request: nothing ran
}
agent_forward_signals(connection.fd)
guard let (kind, payload) = connection.receive() else { agentWentAway(arguments) }
var reader = WireReader(payload)
switch WireFrame(rawValue: kind) {
case .exited:
    exit(reader.int() ?? 1)
case .signalled:
    let signal = reader.int() ?? SIGTERM
    if terminalModesSaved { tcsetattr(terminal, TCSANOW, &terminalModes) }
    Glibc.signal(signal, SIG_DFL)
    raise(signal)
    exit(128 + signal)
case .exec:
    // `agent run`: the agent resolved the environment; the command runs here, in the user's
    // session and process group, as it would in-process.
    guard let argv = reader.strings(), let env = reader.strings(), let file = argv.first else { agentWentAway(arguments) }
    connection.close()
    var cArgv = cStrings(argv), cEnv = cStrings(env)
    _ = agent_exec(file, &cArgv, &cEnv)
    let code = errno
    writeError("agent: error: cannot run \(file): \(String(cString: strerror(code)))\n")
    exit(code == ENOENT ? 127 : 126)
default:
    agentWentAway(arguments)
}
