#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
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
                  Crypto.equal(typed.bytes, again.bytes)
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

/// The controlling terminal, for passphrase prompts.
public enum Terminal {
    /// Whether a prompt is possible: one of the standard streams is a terminal and `/dev/tty`
    /// opens. A process whose streams are all pipes or files (CI, scripts, tests) is not
    /// interactive even if it has a controlling terminal, so it never blocks on a prompt.
    public static var isInteractive: Bool {
        guard isatty(0) == 1 || isatty(1) == 1 || isatty(2) == 1 else { return false }
        let tty = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY)
        guard tty >= 0 else { return false }
        close(tty)
        return true
    }

    /// Prints a line on the terminal (not on stderr, which may be a log).
    static func say(_ text: String) {
        let tty = open("/dev/tty", O_WRONLY | O_CLOEXEC | O_NOCTTY)
        guard tty >= 0 else { return }
        defer { close(tty) }
        write(tty, text + "\n")
    }

    /// Reads one line from `/dev/tty` with echo off; nil without a terminal or at end of input.
    /// Echo is restored on every exit, including SIGINT, SIGTERM, SIGHUP and SIGQUIT (the
    /// handler restores the terminal, then re-raises the signal with its default action).
    public static func readSecret(prompt: String) throws -> SecretBytes? {
        let tty = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY)
        guard tty >= 0 else { return nil }
        defer { close(tty) }
        var saved = termios()
        let hasTermios = tcgetattr(tty, &saved) == 0
        var previousActions: [(Int32, sigaction)] = []
        if hasTermios {
            Prompt.savedAttributes = saved
            Prompt.descriptor = tty
            for signal in Prompt.signals {
                var action = sigaction()
                action.__sigaction_handler.sa_handler = Prompt.restoreAndReraise
                sigemptyset(&action.sa_mask)
                var previous = sigaction()
                if sigaction(signal, &action, &previous) == 0 { previousActions.append((signal, previous)) }
            }
            var silent = saved
            silent.c_lflag &= ~tcflag_t(ECHO)
            silent.c_lflag |= tcflag_t(ECHONL)
            tcsetattr(tty, TCSAFLUSH, &silent)
        }
        defer {
            if hasTermios {
                tcsetattr(tty, TCSAFLUSH, &saved)
                for (signal, previous) in previousActions {
                    var previous = previous
                    sigaction(signal, &previous, nil)
                }
                Prompt.descriptor = -1
            }
        }
        write(tty, prompt)
        var buffer = [UInt8](repeating: 0, count: 4096)
        defer { Crypto.wipe(&buffer) }
        var count = 0
        var sawNewline = false
        while count < buffer.count {
            var byte: UInt8 = 0
            let n = read(tty, &byte, 1)
            if n < 0 && errno == EINTR { continue }
            guard n == 1 else { break }
            if byte == UInt8(ascii: "\n") { sawNewline = true; break }
            buffer[count] = byte
            count += 1
            byte = 0
        }
        if !hasTermios || !sawNewline { write(tty, "\n") }
        if count == 0 && !sawNewline { return nil }
        if count > 0, buffer[count - 1] == UInt8(ascii: "\r") { count -= 1 }
        return SecretBytes(Array(buffer[..<count]))
    }

    private static func write(_ fd: Int32, _ text: String) {
        var text = text
        text.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                if n < 0 { if errno == EINTR { continue } else { return } }
                offset += n
            }
        }
    }

    /// State for the signal handler: what to restore on which descriptor.
    private enum Prompt {
        static let signals = [SIGINT, SIGTERM, SIGHUP, SIGQUIT]
        nonisolated(unsafe) static var savedAttributes = termios()
        nonisolated(unsafe) static var descriptor: Int32 = -1

        static let restoreAndReraise: @convention(c) (Int32) -> Void = { signal in
            if Prompt.descriptor >= 0 {
                tcsetattr(Prompt.descriptor, TCSANOW, &Prompt.savedAttributes)
                _ = Glibc.write(Prompt.descriptor, "\n", 1)
            }
            Glibc.signal(signal, SIG_DFL)
            raise(signal)
        }
    }
}
