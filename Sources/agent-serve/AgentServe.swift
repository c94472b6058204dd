import ArgumentParser
import EnvAgentCore
import EnvAgentServer
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// The `agent-serve` executable: `agent serve`, built on its own so that the HTTP stack
/// (SwiftNIO, Hummingbird) does not weigh on the start-up of every other `agent` command;
/// agent-core's `ServeCommand` execs it.
@main
struct AgentServe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent serve",
        abstract: "Serve the store over a local HTTP API (see GET /openapi.yaml).",
        discussion: """
            Listens on 127.0.0.1:8787 by default, or on a unix socket (--socket, created 0600). \
            Requests need a bearer token from `agent tokens create`. One log line per request on \
            stderr (never a value or a token). SIGTERM/SIGINT stop it gracefully: queued writes \
            are committed first. A passphrase-protected identity is unlocked once at start (terminal, \
            or the file named by AGENT_PASSPHRASE_FILE); requests never prompt.
            """,
        version: EnvAgentVersion.description)

    @Option(help: ArgumentHelp("The store's git repository (default: the one containing the current directory).", valueName: "path"))
    var store: String?

    @Option(help: ArgumentHelp("Identity file, used when AGENT_IDENTITY and AGENT_IDENTITY_FILE are unset.", valueName: "file"))
    var identity: String?

    @Option(help: ArgumentHelp("Address to listen on (port 0: any free port).", valueName: "host:port"))
    var listen = "127.0.0.1:8787"

    @Option(help: ArgumentHelp("Listen on this unix socket instead (created with mode 0600).", valueName: "path"))
    var socket: String?

    @Flag(help: "Allow a non-loopback --listen address (plain HTTP: put a TLS reverse proxy in front).")
    var allowRemote = false

    @Option(help: ArgumentHelp("Where API tokens are kept (default: ${XDG_STATE_HOME:-~/.local/state}/envagent).", valueName: "dir"))
    var stateDir: String?

    @Option(help: ArgumentHelp("Requests per second per token (0: no limit).", valueName: "n"))
    var rateLimit: Double = 100

    @Option(help: ArgumentHelp("Burst size of the per-token limit (default: twice the rate).", valueName: "n"))
    var burst: Double?

    @Option(help: ArgumentHelp("Seconds POST /v1/sync waits for the remote before 504 gateway_timeout.", valueName: "seconds"))
    var syncTimeout = 30

    @Option(help: ArgumentHelp("Seconds after which a connection that sends nothing (idle, or stalled mid-request) is closed.", valueName: "seconds"))
    var idleTimeout = 10

    @Option(help: ArgumentHelp("Log level: trace, debug, info, notice, warning, error, critical.", valueName: "level"))
    var logLevel = "info"

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown log level '\(logLevel)'") }
        guard rateLimit >= 0, (burst ?? 1) >= 1 else { throw ValidationError("--rate-limit must be ≥ 0 and --burst ≥ 1") }
        guard syncTimeout > 0, idleTimeout > 0 else { throw ValidationError("--sync-timeout and --idle-timeout must be positive") }
        if socket == nil {
            let (host, _) = try Self.parseListen(listen)
            if !Self.isLoopback(host) && !allowRemote {
                throw ValidationError("\(host) is not a loopback address; pass --allow-remote to listen on it (and put a TLS reverse proxy in front)")
            }
        }
    }

    func run() async throws {
        do {
            // A protected identity is unlocked once, here (terminal, or AGENT_PASSPHRASE_FILE);
            // requests use the resident key and never prompt.
            let identitySource = IdentitySource.fromEnvironment(flagFile: identity).with(.nonInteractive)
            try identitySource.unlockResident(passphraseProvider: .standard)
            let listenOn: ServerOptions.Listen
            if let socket {
                listenOn = .unix(path: socket)
            } else {
                let (host, port) = try Self.parseListen(listen)
                listenOn = .tcp(host: host, port: port)
                if !Self.isLoopback(host) {
                    Self.printError("warning: listening on \(listen), reachable from other machines. The API speaks plain HTTP: TLS must come from a reverse proxy in front of it.")
                }
            }
            var logger = Logger(label: "envagent.api", factory: { StreamLogHandler.standardError(label: $0) })
            logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
            let options = ServerOptions(storePath: store, identitySource: identitySource,
                                        tokens: TokenStore(directory: stateDir ?? TokenStore.defaultDirectory()),
                                        listen: listenOn, rateLimit: rateLimit, burst: burst,
                                        syncTimeout: syncTimeout, idleTimeout: idleTimeout)
            let server = try APIServer(options: options, logger: logger) { address in
                Self.printError("agent: serving \(address.hasPrefix("/") ? "unix:" + address : "http://" + address)")
            }
            try await server.application.runService()
            if let socket { unlink(socket) }
        } catch let error as AgentError {
            Self.printError("agent: error: \(error.message)")
            if let hint = error.hint { Self.printError("hint: \(hint)") }
            throw ExitCode(error.kind.exitCode)
        }
    }

    private static func printError(_ line: String) {
        StandardStreams.write(line + "\n", to: StandardStreams.error)
    }

    /// `host:port`, `[v6]:port` or `:port` (loopback).
    static func parseListen(_ text: String) throws -> (host: String, port: Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
              (0...65535).contains(port) else {
            throw ValidationError("--listen must be HOST:PORT, e.g. 127.0.0.1:8787")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host.isEmpty ? "127.0.0.1" : host, port)
    }

    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }
}
