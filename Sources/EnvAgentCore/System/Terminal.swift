#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The user's terminal, for prompts that must not go through redirected streams (a passphrase, a
/// value, "reopen the editor?"). In-process that is `/dev/tty`; in a process the resident agent
/// forked for a request, which has no controlling terminal, it is the client's terminal, passed
/// along with the request.
public enum Terminal {
    private static let clientTerminal = Mutex<Int32?>(nil)

    /// Called by the resident agent's request process before the command runs.
    public static func useClientTerminal(_ fd: Int32) {
        clientTerminal.withLock { $0 = fd }
    }

    /// A descriptor of the terminal (close-on-exec), to be closed by the caller; nil when there
    /// is none.
    public static func open(_ flags: Int32 = O_RDWR) -> Int32? {
        if let passed = clientTerminal.withLock({ $0 }) {
            let copy = fcntl(passed, F_DUPFD_CLOEXEC, 3)
            return copy >= 0 ? copy : nil
        }
        let fd = Glibc.open("/dev/tty", flags | O_CLOEXEC | O_NOCTTY)
        return fd >= 0 ? fd : nil
    }

    /// Whether a prompt is possible: one of the standard streams is a terminal and `/dev/tty`
    /// opens. A process whose streams are all pipes or files (CI, scripts, tests) is not
    /// interactive even if it has a controlling terminal, so it never blocks on a prompt.
    public static var isInteractive: Bool {
        guard isatty(0) == 1 || isatty(1) == 1 || isatty(2) == 1 else { return false }
        guard let tty = open() else { return false }
        close(tty)
        return true
    }

    /// Prints a line on the terminal (not on stderr, which may be a log).
    static func say(_ text: String) {
        guard let tty = open(O_WRONLY) else { return }
        defer { close(tty) }
        write(tty, text + "\n")
    }

    /// Reads one line from `/dev/tty` with echo off; nil without a terminal or at end of input.
    /// Echo is restored on every exit, including SIGINT, SIGTERM, SIGHUP and SIGQUIT (the
    /// handler restores the terminal, then re-raises the signal with its default action).
    public static func readSecret(prompt: String) throws -> SecretBytes? {
        guard let tty = open() else { return nil }
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
