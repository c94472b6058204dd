import ArgumentParser
import EnvAgentCore

struct AdoptCommand: AgentCommand {
    static let configuration = CommandConfiguration(
        commandName: "adopt",
        abstract: "Make write-only values members' values (one commit; members only).",
        discussion: """
            A write-only value may have been sealed by anyone who can push, and listings mark it \
            until a member adopts it. Check it first (agent get NAME --reveal). Nothing else \
            converts write-only values.
            """)
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Names of write-only secrets.") var names: [String] = []
    @Flag(help: "Adopt every write-only value of the environment.") var all = false

    func validate() throws {
        guard names.isEmpty == all else { throw ValidationError("name the write-only secrets to adopt, or pass --all (not both)") }
    }

    func execute() throws {
        let operations = try global.operations()
        let result = all ? try operations.adoptAll(environment: global.environment)
                         : try operations.adopt(names: names, environment: global.environment)
        if global.json { return try Console.json(result) }
        if result.adopted.isEmpty {
            Console.out("no write-only values in \(result.environment)")
        } else {
            Console.out("adopted \(result.adopted.joined(separator: ", ")) (\(result.environment))")
        }
    }
}
