import AgentWire
import ArgumentParser
import EnvAgentCore
#if canImport(Glibc)
import Glibc
#endif

/// Where a new value comes from: piped standard input, else a no-echo prompt, or `--value`.
struct ValueOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The value (discouraged: argv is visible to other users; pipe it on stdin instead).", valueName: "value"))
    var value: String?

    @Option(name: .customLong("env-var"), help: ArgumentHelp("Environment variable name (default: NAME).", valueName: "VAR"))
    var envVar: String?

    @Flag(name: .customLong("allow-exec-env-var"),
          help: "Map the secret to an env var that changes what a process runs or loads (PATH, LD_*, NODE_OPTIONS, …); members only.")
    var allowsExecutionEnvVar = false

    @Flag(name: .customLong("allow-empty"), help: "Store an empty value (refused otherwise: usually an unset variable).")
    var allowsEmpty = false

    func read(for name: String) throws -> SecretBytes {
        if let value {
            Console.err("warning: --value puts the secret in argv, visible to other users (ps, /proc); pipe it on stdin instead")
            // `CommandLine.arguments` replaced invalid UTF-8 with U+FFFD: take argv's own bytes,
            // so the value's validation refuses them instead of storing something else.
            return SecretBytes(Self.rawValueArgument() ?? Array(value.utf8))
        }
        return try Self.pipedOrPrompted(for: name)
    }

    /// The command's arguments as the kernel passed them: this process's argv, or in a request
    /// process of the resident agent, the client's (set before the command runs).
    nonisolated(unsafe) static var rawArguments: [[UInt8]] = CString.arguments()

    /// The bytes of the last `--value V` or `--value=V` in argv, as the kernel passed them.
    static func rawValueArgument() -> [UInt8]? {
        let flag = Array("--value".utf8), prefix = flag + [UInt8(ascii: "=")]
        let arguments = rawArguments
        var found: [UInt8]?
        var index = 1
        while index < arguments.count {
            let argument = arguments[index]
            if argument == Array("--".utf8) { break }
            if argument == flag, index + 1 < arguments.count {
                found = arguments[index + 1]
                index += 2
                continue
            }
            if argument.starts(with: prefix) { found = Array(argument.dropFirst(prefix.count)) }
            index += 1
        }
        return found
    }

    /// Piped standard input (without one trailing newline), else a no-echo prompt.
    static func pipedOrPrompted(for name: String) throws -> SecretBytes {
        if isatty(0) == 0 {
            var bytes = try FileIO.readAll(fd: 0)
            defer { Crypto.wipe(&bytes) }
            // `echo value | agent set NAME`: the one trailing newline is not part of the value.
            if bytes.last == UInt8(ascii: "\n") { bytes.removeLast() }
            if bytes.last == UInt8(ascii: "\r") { bytes.removeLast() }
            return SecretBytes(Array(bytes))
        }
        return try prompt("Value for \(name): ")
    }

    /// Reads a line from the terminal with echo off (restored on every exit, Ctrl-C included).
    private static func prompt(_ text: String) throws -> SecretBytes {
        guard let value = try Terminal.readSecret(prompt: text) else {
            throw AgentError(.invalidRequest, "no value: standard input is a terminal but /dev/tty cannot be read",
                             hint: "pipe the value on stdin: printf %s \"$VALUE\" | agent …")
        }
        return value
    }
}
