#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The user's terminal, for prompts that must not go through redirected streams (a passphrase,
/// "reopen the editor?"). In-process that is `/dev/tty`; in a process the resident agent forked
/// for a request, which has no controlling terminal, it is the client's terminal, passed along
/// with the request.
public enum Terminal {
    private static let clientTerminal = Mutex<Int32?>(nil)

    /// Called by the resident agent's request process before the command runs.
    public static func useClientTerminal(_ fd: Int32) {
        clientTerminal.withLock { $0 = fd }
    }

    /// A descriptor of the terminal, to be closed by the caller; nil when there is none.
    public static func open() -> Int32? {
        if let passed = clientTerminal.withLock({ $0 }) {
            let copy = fcntl(passed, F_DUPFD_CLOEXEC, 3)
            return copy >= 0 ? copy : nil
        }
        let fd = Glibc.open("/dev/tty", O_RDWR | O_CLOEXEC)
        return fd >= 0 ? fd : nil
    }
}
