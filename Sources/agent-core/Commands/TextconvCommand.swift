import ArgumentParser
import EnvAgentCore

/// What git runs for `diff=envagent` (`diff.envagent.textconv`): a secrets file as per-secret
/// lines with masked values (see `Operations.textconv`).
struct TextconvCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "textconv",
        abstract: "Print a secrets file as per-secret lines with masked values (git's diff.envagent.textconv).",
        discussion: "Run by git diff / git log -p; never prints a value. Without a key that opens the values, names and `encrypted`.",
        shouldDisplay: false)
    @Argument(help: "The file git hands over (a temporary copy of a .envagent/ENV/secrets blob).") var file: String

    func run() throws {
        var bytes: [UInt8]
        do { bytes = try FileIO.read(file) } catch let error as AgentError {
            Console.report(error, json: false)
            throw ExitCode(error.kind.exitCode)
        }
        defer { Crypto.wipe(&bytes) }
        let text: [UInt8]
        if let operations = try? GlobalOptions.operations(storePath: nil, identityFile: nil) {
            text = operations.textconv(bytes)
        } else {
            text = Operations.textconv(bytes, keys: [])
        }
        StandardStreams.write(text, to: StandardStreams.output)
    }
}
