import ArgumentParser
import EnvAgentCore

struct KeygenCommand: AgentCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Create an identity (X25519 key pair) and print its public key.",
        discussion: """
            Writes the identity to AGENT_IDENTITY_FILE, --identity, or \
            ${XDG_CONFIG_HOME:-~/.config}/envagent/identity (mode 0600, folder 0700); never overwrites one. \
            With --ci the secret key text is printed instead, for a CI secret named AGENT_IDENTITY.
            """)

    @OptionGroup var global: GlobalOptions

    @Option(name: [.short, .long], help: ArgumentHelp("Write the identity to this file instead.", valueName: "file"))
    var output: String?

    @Flag(help: "Print the secret key text on stdout (for AGENT_IDENTITY in CI) and write no file.")
    var ci = false

    func execute() throws {
        let identity = try Identity.generate()
        if ci {
            Console.err("# public key: \(identity.publicKeyText)")
            Console.err("# store the next line as the CI secret AGENT_IDENTITY; it is shown only once")
            Console.out(identity.secretKeyText)
            return
        }
        let source = global.identitySource
        let path = output ?? source.writableFile
        try source.write(identity, to: path)
        if global.json {
            try Console.json(["public_key": identity.publicKeyText, "identity_file": path])
        } else {
            Console.err("identity written to \(path)")
            Console.out(identity.publicKeyText)
        }
    }
}

struct WhoamiCommand: AgentCommand {
    static let configuration = CommandConfiguration(
        commandName: "whoami", abstract: "Print the public key of the current identity.")

    @OptionGroup var global: GlobalOptions

    func execute() throws {
        let identity = try global.identitySource.require()
        if global.json {
            try Console.json(["public_key": identity.publicKeyText])
        } else {
            Console.out(identity.publicKeyText)
        }
    }
}
