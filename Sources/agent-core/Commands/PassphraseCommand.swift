import ArgumentParser
import EnvAgentCore

struct PassphraseCommand: AgentCommand {
    static let configuration = CommandConfiguration(
        commandName: "passphrase",
        abstract: "Add, change or remove the passphrase of the identity file.",
        discussion: """
            Acts on AGENT_IDENTITY_FILE, --identity, or ${XDG_CONFIG_HOME:-~/.config}/envagent/identity. \
            The current passphrase (when the file has one) comes from the file named by AGENT_PASSPHRASE_FILE, \
            else the terminal; the new one from the file named by AGENT_NEW_PASSPHRASE_FILE, else the terminal \
            (typed twice). The new file is written beside the old one (mode 0600), synced, and renamed over it: \
            the identity file is never half-written. The key itself does not change.
            """)

    @OptionGroup var global: GlobalOptions

    @Flag(help: "Remove the passphrase: store the secret key text in the clear again.")
    var remove = false

    @OptionGroup var kdf: PassphraseCostOptions

    func execute() throws {
        let source = global.identitySource
        let path = source.writableFile
        guard let file = try IdentitySource.readFile(path, required: true) else { return }
        if remove && !file.isProtected {
            return try report(path: path, publicKey: file.publicKey, protected: false, message: "\(path) has no passphrase; nothing changed")
        }
        // Unlock with the current passphrase (a resident identity is not enough: whoever changes
        // the passphrase must know it).
        let identity = try IdentitySource.identity(in: file, path: path, passphraseProvider: source.passphraseProvider,
                                                   usesResident: false)
        let passphrase = remove ? nil : try PassphraseProvider.newPassphrase()
        try IdentitySource.replace(path, with: identity, passphrase: passphrase, limits: try kdf.limits())
        let message = remove ? "passphrase removed from \(path)"
            : file.isProtected ? "passphrase changed for \(path)" : "passphrase added to \(path)"
        try report(path: path, publicKey: identity.publicKey, protected: !remove, message: message)
    }

    private func report(path: String, publicKey: [UInt8], protected: Bool, message: String) throws {
        if global.json {
            try Console.json(IdentityFileOutput(publicKey: Identity.publicKeyText(publicKey), identityFile: path, passphrase: protected))
        } else {
            Console.err(message)
        }
    }
}
