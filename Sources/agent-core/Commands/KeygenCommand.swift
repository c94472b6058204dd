import ArgumentParser
import EnvAgentCore

struct KeygenCommand: AgentCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Create an identity (X25519 key pair) and print its public key.",
        discussion: """
            Writes the identity to AGENT_IDENTITY_FILE, --identity, or \
            ${XDG_CONFIG_HOME:-~/.config}/envagent/identity (mode 0600, folder 0700); never overwrites one. \
            With --passphrase the secret key is sealed under a passphrase (Argon2id, XChaCha20-Poly1305) \
            read from the file named by AGENT_NEW_PASSPHRASE_FILE or AGENT_PASSPHRASE_FILE, else typed twice \
            on the terminal; the public key stays readable. With --ci the secret key text is printed \
            instead, for a CI secret named AGENT_IDENTITY.
            """)

    @OptionGroup var global: GlobalOptions

    @Option(name: [.short, .long], help: ArgumentHelp("Write the identity to this file instead.", valueName: "file"))
    var output: String?

    @Flag(help: "Print the secret key text on stdout (for AGENT_IDENTITY in CI) and write no file.")
    var ci = false

    @Flag(help: "Protect the identity file with a passphrase.")
    var passphrase = false

    @OptionGroup var kdf: PassphraseCostOptions

    func validate() throws {
        if ci && passphrase { throw ValidationError("--ci prints a key text for AGENT_IDENTITY, which has no passphrase: drop --passphrase") }
    }

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
        let secret = passphrase
            ? try PassphraseProvider.newPassphrase(variables: [PassphraseProvider.newFileVariable, PassphraseProvider.fileVariable])
            : nil
        try source.write(identity, to: path, passphrase: secret, limits: try kdf.limits())
        if global.json {
            try Console.json(IdentityFileOutput(publicKey: identity.publicKeyText, identityFile: path, passphrase: passphrase))
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
        // The public key only: a protected identity is not unlocked for this.
        guard let publicKey = try global.identitySource.publicKey() else { _ = try global.identitySource.require(); return }
        let text = Identity.publicKeyText(publicKey)
        if global.json {
            try Console.json(["public_key": text])
        } else {
            Console.out(text)
        }
    }
}

/// The `--json` answer of `keygen` and `passphrase`.
struct IdentityFileOutput: Encodable {
    var publicKey: String
    var identityFile: String
    var passphrase: Bool

    enum CodingKeys: String, CodingKey {
        case publicKey = "public_key", identityFile = "identity_file", passphrase
    }
}

/// `--kdf`: how costly deriving the key from a passphrase is.
struct PassphraseCostOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Argon2id cost of a new passphrase: interactive (64 MiB), moderate (256 MiB) or sensitive (1 GiB).",
                               valueName: "cost"))
    var kdf = "moderate"

    func limits() throws -> PassphraseLimits {
        guard let limits = PassphraseLimits.named(kdf) else {
            throw AgentError(.invalidRequest, "unknown --kdf '\(kdf)'", hint: "use interactive, moderate or sensitive")
        }
        return limits
    }
}
