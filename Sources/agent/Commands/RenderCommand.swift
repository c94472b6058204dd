import ArgumentParser
import EnvAgentCore

extension RenderFormat: ExpressibleByArgument {}

struct RenderCommand: AgentCommand {
    static let configuration = CommandConfiguration(
        commandName: "render",
        abstract: "Print the decrypted .env for the named secrets (all when none are named).",
        discussion: "With -o the file is written atomically with mode 0600.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Secret names.") var names: [String] = []
    @Option(help: "env, sh or json.") var format: RenderFormat = .env
    @Option(name: [.short, .long], help: ArgumentHelp("Write to this file instead of stdout.", valueName: "file"))
    var output: String?

    func execute() throws {
        let rendered = try global.operations().render(names: names, environment: global.environment,
                                                      format: global.json ? .json : format)
        if let output {
            try rendered.withUnsafeBytes { try FileIO.writeAtomically(output, bytes: $0, mode: 0o600) }
        } else {
            Console.out(rendered)
        }
    }
}
