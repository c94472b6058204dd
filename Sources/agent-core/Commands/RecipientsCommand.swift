import ArgumentParser
import EnvAgentCore

/// `--all-envs`, next to the global `--env`.
struct EnvironmentSelectionOptions: ParsableArguments {
    @Flag(name: .long, help: "Every environment of the store instead of --env.")
    var allEnvs = false

    func selection(_ global: GlobalOptions) -> Operations.EnvironmentSelection {
        allEnvs ? .all : .one(global.environment)
    }
}

struct RecipientsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recipients",
        abstract: "Who can read an environment: list, add (wraps its key), remove (rotates it).",
        subcommands: [List.self, Add.self, Remove.self])

    struct List: AgentCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List the recipients of an environment (or all) and its public key for write-only writers.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var environments: EnvironmentSelectionOptions

        func execute() throws {
            let listing = try global.operations().recipients(environments.selection(global))
            if global.json { return try Console.json(listing) }
            for (index, environment) in listing.enumerated() {
                if index > 0 { Console.out("") }
                Console.out("\(environment.environment) (public key for write-only writers: \(environment.publicKey ?? "none yet"))")
                Console.table(["LABEL", "PUBLIC KEY", ""], environment.recipients.map {
                    [$0.label ?? "-", $0.publicKey, $0.you ? "(you)" : ""]
                })
            }
        }
    }

    struct Add: AgentCommand {
        static let configuration = CommandConfiguration(
            commandName: "add",
            abstract: "Grant a public key access: wraps the environment key for it (one commit).")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var environments: EnvironmentSelectionOptions
        @Argument(help: "The new member's public key (`agent whoami` prints it).") var publicKey: String
        @Option(help: ArgumentHelp("A label shown in listings and history (e.g. alice@example.com).", valueName: "label"))
        var name: String?

        func execute() throws {
            let change = try global.operations().addRecipient(publicKey, label: name, environments.selection(global))
            if global.json { return try Console.json(change) }
            Console.out("added \(change.label ?? change.publicKey) to \(change.environments.joined(separator: ", "))")
        }
    }

    struct Remove: AgentCommand {
        static let configuration = CommandConfiguration(
            commandName: "remove",
            abstract: "Revoke a recipient and rotate: new key, every value re-encrypted (one commit).",
            discussion: """
                The removed identity cannot open anything written from then on. It keeps what it \
                has already seen: rotate those secrets at their source too. Removing the last \
                recipient is refused.
                """)
        @OptionGroup var global: GlobalOptions
        @OptionGroup var environments: EnvironmentSelectionOptions
        @Argument(help: "The recipient's public key or label.") var recipient: String

        func execute() throws {
            let progress = RotationProgressPrinter()
            let change = try global.operations().removeRecipient(recipient, environments.selection(global), progress: progress.callback)
            progress.finish()
            if global.json { return try Console.json(change) }
            Console.out("removed \(change.label ?? change.publicKey) from \(change.environments.joined(separator: ", ")); "
                        + "rotated: \(change.rotatedSecrets) secret\(change.rotatedSecrets == 1 ? "" : "s") re-encrypted")
        }
    }
}
