#if canImport(Glibc)
import Glibc
#endif

/// A request for the passphrase of a protected identity file.
public struct PassphraseRequest: Sendable {
    /// The identity file (named in prompts and errors).
    public var file: String
    /// 1 for the first try; more after a wrong passphrase.
    public var attempt: Int
}

/// Where the passphrase of a protected identity comes from. Returns nil to give up (after a
/// wrong passphrase); throws `authentication_failed` when no passphrase can be had at all.
public struct PassphraseProvider: Sendable {
    public let passphrase: @Sendable (PassphraseRequest) throws -> SecretBytes?

    public init(_ passphrase: @escaping @Sendable (PassphraseRequest) throws -> SecretBytes?) {
        self.passphrase = passphrase
    }

    /// The variable naming a file that holds the passphrase (for scripts and tests; never argv).
    public static let fileVariable = "AGENT_PASSPHRASE_FILE"
    /// The variable naming a file that holds a new passphrase (`keygen --passphrase`, `passphrase`).
    public static let newFileVariable = "AGENT_NEW_PASSPHRASE_FILE"

    /// `AGENT_PASSPHRASE_FILE` when set, else the terminal (three tries) when this process has
    /// one, else `authentication_failed` with a hint. What every command uses.
    public static let standard = PassphraseProvider { request in
        if let file = environmentFile(fileVariable) {
            return request.attempt == 1 ? try read(file: file, variable: fileVariable) : nil
        }
        guard Terminal.isInteractive else { throw IdentitySource.locked(request.file) }
        guard request.attempt <= 3 else { return nil }
        if request.attempt > 1 { Terminal.say("wrong passphrase, try again") }
        guard let typed = try Terminal.readSecret(prompt: "Passphrase for \(request.file): ") else {
            throw IdentitySource.locked(request.file)
        }
        return typed
    }

    /// `AGENT_PASSPHRASE_FILE` when set, else `authentication_failed`: never a prompt. For
    /// long-running processes after their start (a request handler must not prompt).
    public static let nonInteractive = PassphraseProvider { request in
        guard let file = environmentFile(fileVariable) else { throw IdentitySource.locked(request.file) }
        return request.attempt == 1 ? try read(file: file, variable: fileVariable) : nil
    }

    /// Always this passphrase (one try). For callers that obtained it themselves.
    public static func fixed(_ passphrase: SecretBytes) -> PassphraseProvider {
        PassphraseProvider { $0.attempt == 1 ? passphrase : nil }
    }

    /// A new passphrase: from the file named by `variables` (the first set one), else typed
    /// twice on the terminal; `invalid_request` when neither is possible, `validation_error`
    /// when it is empty or the two do not match.
    public static func newPassphrase(variables: [String] = [newFileVariable]) throws -> SecretBytes {
        let passphrase: SecretBytes
        if let (variable, file) = variables.lazy.compactMap({ name in environmentFile(name).map { (name, $0) } }).first {
            passphrase = try read(file: file, variable: variable)
        } else {
            guard Terminal.isInteractive, let typed = try Terminal.readSecret(prompt: "New passphrase: ") else {
                throw AgentError(.invalidRequest, "no new passphrase: this process has no terminal to ask on",
                                 details: [.init(loc: ["passphrase"], msg: "no terminal", type: "missing")],
                                 hint: "set \(variables[0]) to a file holding the new passphrase")
            }
            guard let again = try Terminal.readSecret(prompt: "Repeat the new passphrase: "),
                  typed.matches(again)
            else { throw AgentError.validation("passphrase", "the two passphrases differ", type: "mismatch") }
            passphrase = typed
        }
        guard passphrase.count > 0 else { throw AgentError.validation("passphrase", "the passphrase is empty", type: "empty") }
        return passphrase
    }

    static func environmentFile(_ variable: String) -> String? {
        FileIO.environment(variable).flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The file's bytes without one trailing LF or CRLF (`echo pass > file` works).
    static func read(file: String, variable: String) throws -> SecretBytes {
        var bytes: [UInt8]
        do {
            bytes = try FileIO.read(file, upTo: 64 * 1024)
        } catch {
            throw AgentError(.authenticationFailed, "cannot read the passphrase file \(file) named by \(variable)",
                             details: [.init(loc: [variable], msg: "unreadable passphrase file", type: "missing")],
                             hint: "point \(variable) at a readable file holding only the passphrase")
        }
        defer { Crypto.wipe(&bytes) }
        var count = bytes.count
        if count > 0, bytes[count - 1] == UInt8(ascii: "\n") { count -= 1 }
        if count > 0, bytes[count - 1] == UInt8(ascii: "\r") { count -= 1 }
        return SecretBytes(Array(bytes[..<count]))
    }
}

