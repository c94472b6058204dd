import ArgumentParser
import EnvAgentCore

struct UpgradeCommand: AgentCommand {
    static let configuration = CommandConfiguration(
        commandName: "upgrade",
        abstract: "Move a format-1 store to format 2: sign the recipients of every environment you are a member of.",
        discussion: """
            Each of your environments gets a fresh key, every value re-encrypted (write-only values stay \
            write-only) and a signed recipients file for the same members, in one commit. Environments \
            you are not a member of stay unreadable until one of their members runs it too.
            """)
    @OptionGroup var global: GlobalOptions

    func execute() throws {
        let result = try global.operations().upgrade()
        if global.json { return try Console.json(result) }
        if !result.environments.isEmpty {
            Console.out("upgraded \(result.environments.joined(separator: ", ")): \(result.secrets) secret\(result.secrets == 1 ? "" : "s") re-encrypted, recipients signed")
        }
        if !result.remaining.isEmpty {
            Console.out("still unsigned (a member of each runs `agent upgrade`): \(result.remaining.joined(separator: ", "))")
        }
    }
}
