import ArgumentParser
import EnvAgentCore

/// `--store` and `--json`: what every command takes, `tokens` included.
struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The store's git repository (default: the one containing the current directory).", valueName: "path"))
    var store: String?

    @Flag(name: .long, help: "Print machine-readable JSON; errors as the JSON envelope on stderr.")
    var json = false
}

/// Flags every command that reads or writes secrets takes: the store's, plus the environment
/// and the identity.
struct GlobalOptions: ParsableArguments, ReportingOptions {
    @OptionGroup var location: StoreOptions

    @Option(name: .long, help: ArgumentHelp("The environment (default: $AGENT_ENV, else dev).", valueName: "name"))
    var env: String?

    @Option(name: .long, help: ArgumentHelp("Identity file, used when AGENT_IDENTITY and AGENT_IDENTITY_FILE are unset.", valueName: "file"))
    var identity: String?

    var store: String? { location.store }
    var json: Bool { location.json }

    var environment: String {
        env ?? FileIO.environment("AGENT_ENV").flatMap { $0.isEmpty ? nil : $0 } ?? "dev"
    }

    var identitySource: IdentitySource { .fromEnvironment(flagFile: identity) }

    /// What git is told to run for the merge and diff drivers: the `agent` client beside this
    /// binary (so they go through a resident agent when one runs), else this binary.
    static var userFacingExecutable: String {
        let client = FileIO.dirname(FileIO.executablePath()) + "/agent"
        return FileIO.exists(client) ? client : FileIO.executablePath()
    }

    func operations() throws -> Operations {
        try Self.operations(storePath: store, identityFile: identity)
    }

    /// The operations on the store. Packing, once due after a commit, is left to a background
    /// `agent gc --auto` (started at most once per command), so no command waits for a pack.
    static func operations(storePath: String?, identityFile: String?,
                           passphraseProvider: PassphraseProvider = .standard) throws -> Operations {
        let store = try Store.open(path: storePath)
        store.packing = .background { gitDirectory in
            BackgroundProcess.start(FileIO.executablePath(), ["gc", "--auto", "--store", gitDirectory])
        }
        return Operations(store: store, identitySource: IdentitySource.fromEnvironment(flagFile: identityFile).with(passphraseProvider))
    }
}

/// Options that say how errors are reported (`--json`: the envelope on stderr).
protocol ReportingOptions {
    var json: Bool { get }
}

/// A subcommand whose `AgentError`s become the envelope / message and the mapped exit code.
protocol AgentCommand: ParsableCommand {
    associatedtype Options: ReportingOptions
    var global: Options { get }
    func execute() throws
}

extension AgentCommand {
    func run() throws {
        do {
            try execute()
        } catch let error as AgentError {
            Console.report(error, json: global.json)
            throw ExitCode(error.kind.exitCode)
        }
    }
}
