import AgentWire
import ArgumentParser
import EnvAgentCore
#if canImport(Glibc)
import Glibc
#endif

struct RunCommand: AgentCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a command with the secrets in its environment.",
        discussion: """
            agent run [NAME…] -- CMD ARGS…   Its exit code (or the signal that ended it) is passed through; 127 when it \
            cannot be found. When standard output or error is not a terminal (CI logs, pipes), or with --mask, every \
            value of 6 characters or more that the command prints there is masked as it streams; otherwise (and with \
            --no-mask) the command replaces agent (exec).
            """)
    @OptionGroup var global: GlobalOptions
    @Flag(name: .customLong("no-override"), help: "Keep inherited variables that are already set.") var noOverride = false
    @Flag(name: .customLong("mask"), help: "Mask values in the command's output even on a terminal.") var mask = false
    @Flag(name: .customLong("no-mask"), help: "Never mask the command's output (run it with exec).") var noMask = false
    /// Names, `--`, then the command: captured as given, so that the command's own options
    /// (after `--`) are never read as agent's. ArgumentParser cannot declare an array of
    /// names followed by a `--`-terminated array.
    @Argument(parsing: .captureForPassthrough, help: ArgumentHelp("Secret names (all when none are named), then -- and the command.", valueName: "NAME… -- CMD ARGS…"))
    var words: [String] = []

    /// Secret names before `--`, the command after it.
    var names: [String] { Array(words.prefix { $0 != "--" }) }
    var command: [String] { words.firstIndex(of: "--").map { Array(words[($0 + 1)...]) } ?? [] }

    func validate() throws {
        guard !(mask && noMask) else { throw ValidationError("--mask and --no-mask exclude each other") }
        // Before `--` every word is agent's: `agent run --help` and `agent run NAME -h` ask for
        // this help, never run a program called `--help`.
        if names.contains(where: { $0 == "--help" || $0 == "-h" }) { throw CleanExit.helpRequest(self) }
        if let option = names.first(where: { $0.hasPrefix("-") }) {
            throw ValidationError("unexpected option '\(option)' among the names: options go before the names, the command after --")
        }
        guard !command.isEmpty else { throw ValidationError("name the command to run after --, e.g. agent run -- npm start") }
    }

    func execute() throws {
        let entries = try global.operations().entries(names: names, environment: global.environment)
        for entry in entries {
            if noOverride && getenv(entry.envVar) != nil { continue }
            FileIO.setEnvironment(entry.envVar, to: entry.value)
        }
        let masked = [Int32(1), 2].filter { fd in !noMask && (mask || isatty(fd) == 0) }
        if !masked.isEmpty { try OutputMaskingRun.run(command, values: entries.map(\.value), masked: masked) }
        // Unmasked, the command runs in the client when a resident agent serves this request:
        // in the user's session and process group, as in-process.
        if ResidentRequest.execInClient(command, environment: ProcessEnvironment.entries()) { Glibc.exit(0) }
        var argv = command.map { strdup($0) } + [nil]
        execvp(command[0], &argv)
        let code = errno
        Console.err("agent: error: cannot run \(command[0]): \(FileIO.errnoMessage(code))")
        throw ExitCode(code == ENOENT ? 127 : 126)
    }
}
