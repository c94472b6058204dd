import ArgumentParser
import EnvAgentCore

/// `agent base`: show, set or remove the base environment of `--env`.
struct BaseCommand: AgentCommand {
    static let configuration = CommandConfiguration(
        commandName: "base",
        abstract: "Show, set or remove the base environment of --env (its secrets render under the environment's own).",
        discussion: """
            render, run, render targets and the API's dotenv merge the base's secrets, then the \
            environment's (a secret with the same NAME or ENV_VAR in the environment wins). Setting \
            a base is one commit; it takes a member of both environments, and records in the base's \
            signed recipients file that the environment may build on it (a base file pushed without \
            that is refused as untrusted; running `agent base` again as a member of both confirms \
            it). A base may have a base of its own (at most \(Operations.maxLayers) layers, no cycles).
            """)
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The base environment to set.") var base: String?
    @Flag(help: "Remove the base.") var unset = false

    func validate() throws {
        if unset && base != nil { throw ValidationError("name a base or pass --unset, not both") }
    }

    func execute() throws {
        let operations = try global.operations()
        let environment = global.environment
        if base == nil && !unset {
            let current = try operations.base(of: environment)
            if global.json {
                try Console.json(["environment": environment, "base": current])
            } else if let current {
                Console.out(current)
            } else {
                Console.err("environment \(environment) has no base")
            }
            return
        }
        let commit = try operations.setBase(base, of: environment)
        if global.json {
            try Console.json(["environment": environment, "base": base, "commit": commit?.hex])
        } else if commit == nil {
            Console.err("(unchanged: nothing committed)")
        } else {
            Console.out(base.map { "\(environment) now builds on \($0)" } ?? "\(environment) has no base any more")
        }
    }
}

/// `agent copy NAME… --from E1 --to E2` (or `--all`): one commit in E2.
struct CopyCommand: AgentCommand {
    static let configuration = CommandConfiguration(
        commandName: "copy",
        abstract: "Copy secrets from one environment to another, re-encrypted under the target's key, in one commit.",
        discussion: "Each secret keeps its env var; an existing one in --to is updated. Needs membership of --from.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Secret names.") var names: [String] = []
    @Option(help: ArgumentHelp("The environment to copy from.", valueName: "env")) var from: String
    @Option(help: ArgumentHelp("The environment to copy to.", valueName: "env")) var to: String
    @Flag(help: "Copy every secret of --from.") var all = false
    @Flag(name: .customLong("allow-exec-env-var"),
          help: "Allow secrets mapped to env vars that change what a process runs or loads (PATH, LD_*, …); members only.")
    var allowsExecutionEnvVars = false

    func validate() throws {
        if all == !names.isEmpty { throw ValidationError("name the secrets to copy, or pass --all") }
        if global.env != nil { throw ValidationError("copy takes --from and --to, not --env") }
    }

    func execute() throws {
        let result = try global.operations().copy(names, from: from, to: to, allowingExecutionEnvVars: allowsExecutionEnvVars)
        if global.json {
            try Console.json(result)
        } else {
            Console.out("copied from \(from) into \(result.environment): \(result.created.count) created, \(result.updated.count) updated, \(result.unchanged.count) unchanged")
            if result.sealed { Console.err(Self.writeOnlyNote(result.environment)) }
        }
    }
}
