import ArgumentParser
import EnvAgentCore
#if canImport(Glibc)
import Glibc
#endif

/// `agent serve …` runs the `agent-serve` executable installed beside `agent` (the HTTP stack
/// lives there, so every other command starts without it). All options are its own:
/// `agent serve --help` lists them.
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the store over a local HTTP API (see GET /openapi.yaml; `agent serve --help`).")

    @Argument(parsing: .captureForPassthrough, help: ArgumentHelp("Options of agent-serve (--listen, --socket, --store …).", valueName: "options"))
    var options: [String] = []

    func run() throws {
        let path = FileIO.dirname(FileIO.executablePath()) + "/agent-serve"
        var argv = ([path] + options).map { strdup($0) } + [nil]
        execv(path, &argv)
        let code = errno
        Console.report(AgentError(.internalError, "cannot run \(path): \(FileIO.errnoMessage(code))",
                                  hint: "install agent-serve next to agent (`swift build -c release` builds both)"), json: false)
        throw ExitCode(AgentError.Kind.internalError.exitCode)
    }
}
