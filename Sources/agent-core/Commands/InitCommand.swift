import ArgumentParser
import EnvAgentCore

struct InitCommand: AgentCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create the store in a git repository (running git init when needed).")

    @OptionGroup var global: GlobalOptions

    @Flag(help: "When the folder is not a repository yet, create a bare one.")
    var bare = false

    @Option(help: ArgumentHelp("Your label as the first recipient (shown in listings and history).", valueName: "label"))
    var name: String?

    func execute() throws {
        let (operations, header) = try Operations.initialize(
            path: global.store, environment: global.environment, bare: bare, label: name,
            mergeDriver: GlobalOptions.userFacingExecutable, identitySource: global.identitySource)
        let repository = operations.store.repository
        let location = repository.workdir ?? repository.gitDirectory
        if global.json {
            try Console.json(["store_id": header.storeID, "path": location, "environment": global.environment])
        } else {
            Console.out("Initialized EnvAgent store \(header.storeID) in \(location) (environment \(global.environment))")
        }
    }
}
