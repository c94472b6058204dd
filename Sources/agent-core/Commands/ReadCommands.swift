import ArgumentParser
import EnvAgentCore

struct GetCommand: AgentCommand {
    static let configuration = CommandConfiguration(
        commandName: "get", abstract: "Show a secret's metadata; --reveal prints its value.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Secret name.") var name: String
    @Flag(help: "Print the decrypted value.") var reveal = false

    func execute() throws {
        let operations = try global.operations()
        if reveal {
            let value = try operations.reveal(name: name, environment: global.environment)
            if global.json {
                struct Revealed: Encodable { let name: String; let environment: String; let value: String }
                try Console.json(Revealed(name: name, environment: global.environment, value: value.utf8String))
            } else {
                Console.out(value)
                Console.out("")
            }
        } else {
            MetadataPrinter.print(try operations.get(name: name, environment: global.environment), json: global.json)
        }
    }
}

struct ListCommand: AgentCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List the secrets of an environment, values masked.")
    @OptionGroup var global: GlobalOptions

    func execute() throws {
        let secrets = try global.operations().list(environment: global.environment)
        if global.json {
            try Console.json(secrets)
        } else if secrets.isEmpty {
            Console.err("no secrets in environment \(global.environment)")
        } else {
            Console.table(["NAME", "ENV_VAR", "VALUE", "UPDATED", "WRITTEN BY"],
                          secrets.map { [$0.name, $0.envVar, $0.maskedValue + ($0.error == nil ? "" : " (does not open)"), $0.updatedAt,
                                         MetadataPrinter.writer($0)] })
        }
        let broken = secrets.filter { $0.error != nil }.map(\.name)
        if !broken.isEmpty {
            Console.err("warning: \(broken.count == 1 ? "the value of" : "the values of") \(broken.joined(separator: ", ")) in environment \(global.environment) \(broken.count == 1 ? "does" : "do") not open; `agent verify --env \(global.environment)` names the commit that changed \(broken.count == 1 ? "it" : "them")")
        }
    }
}

struct EnvsCommand: AgentCommand {
    static let configuration = CommandConfiguration(
        commandName: "envs", abstract: "List the environments with their secret and recipient counts.")
    @OptionGroup var global: GlobalOptions

    func execute() throws {
        let environments = try global.operations().environments()
        if global.json {
            try Console.json(environments)
        } else {
            Console.table(["ENV", "SECRETS", "RECIPIENTS"],
                          environments.map { [$0.name, String($0.secretCount), String($0.recipientCount)] })
        }
    }
}

struct HistoryCommand: AgentCommand {
    static let configuration = CommandConfiguration(
        commandName: "history", abstract: "Commits that changed the store, or one secret (in --env).")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Secret name (all store changes when omitted).") var name: String?
    @Option(help: "At most this many entries.") var limit = 1000

    func execute() throws {
        let entries = try global.operations().history(name: name, environment: global.environment, limit: limit)
        if global.json {
            try Console.json(entries)
        } else {
            Console.table(["DATE", "AUTHOR", "RECIPIENT", "ACTION", "COMMIT", "SUMMARY"],
                          entries.map { [$0.date, $0.author, $0.recipient ?? "-", $0.action, String($0.commit.prefix(10)), $0.summary] })
        }
    }
}
