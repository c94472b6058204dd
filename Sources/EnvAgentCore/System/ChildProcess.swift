#if canImport(Glibc)
import Glibc
#endif

/// A child process the agent waits for (the editor of `agent edit`, the command of a masking
/// `agent run`, a render target's on-change command). The agent blocks the signals it handles itself and receives them with
/// `nextSignal`, so none is lost between a check and a wait; the child starts with an empty
/// signal mask and default dispositions.
public struct ChildProcess {
    public let pid: pid_t
    /// Whether the child leads a process group of its own (signals then go to the whole group).
    public let ownGroup: Bool

    /// The signals the agent takes over while a child runs.
    public static let handled: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD]

    /// Blocks `handled` in this thread (before any other thread starts, so in every thread).
    public static func blockHandledSignals() -> sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in handled { sigaddset(&set, signal) }
        pthread_sigmask(SIG_BLOCK, &set, nil)
        return set
    }

    /// Starts `argv` (looked up in PATH), with standard output / error redirected to the given
    /// descriptors when set; `closing` are descriptors the child must not keep. With
    /// `ownGroup` it leads a new process group (never do that for a child that reads the
    /// terminal: it would not be in the terminal's foreground group). Fails with the `errno` of
    /// the start (ENOENT, EACCES …).
    public static func spawn(_ argv: [String], stdout: Int32? = nil, stderr: Int32? = nil, closing: [Int32] = [],
                      ownGroup: Bool = false) -> Result<ChildProcess, Errno> {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t(), defaults = sigset_t()
        sigemptyset(&empty)
        sigemptyset(&defaults)
        for signal in handled + [SIGPIPE, SIGALRM] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | (ownGroup ? POSIX_SPAWN_SETPGROUP : 0)))
        if ownGroup { posix_spawnattr_setpgroup(&attributes, 0) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let stdout { posix_spawn_file_actions_adddup2(&actions, stdout, 1) }
        if let stderr { posix_spawn_file_actions_adddup2(&actions, stderr, 2) }
        for fd in closing { posix_spawn_file_actions_addclose(&actions, fd) }
        let cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        var pid = pid_t()
        let rc = posix_spawnp(&pid, argv[0], &actions, &attributes, cArgs, environ)
        return rc == 0 ? .success(ChildProcess(pid: pid, ownGroup: ownGroup)) : .failure(Errno(rawValue: rc))
    }

    public struct Errno: Error { public let rawValue: Int32 }

    /// The child's wait status once it has ended (reaped), else nil.
    public func poll() -> Int32? {
        var status: Int32 = 0
        let rc = waitpid(pid, &status, WNOHANG)
        return rc == pid ? status : nil
    }

    /// A blocked signal that arrived within `timeout` seconds, else nil; `fromTerminal` when the
    /// kernel sent it (a terminal's ^C, ^\\ or hang-up, which the child got as well).
    public static func nextSignal(_ set: sigset_t, timeout: Double) -> (signal: Int32, fromTerminal: Bool)? {
        var set = set
        var info = siginfo_t()
        var wait = timespec(tv_sec: Int(timeout), tv_nsec: Int((timeout - Double(Int(timeout))) * 1e9))
        let signal = sigtimedwait(&set, &info, &wait)
        return signal > 0 ? (signal, info.si_code == 0x80 /* SI_KERNEL */) : nil
    }

    /// Sends `signal` on to the child unless the terminal sent it to both already.
    public func forward(_ signal: Int32, fromTerminal: Bool) {
        if signal != SIGCHLD && !fromTerminal { send(signal) }
    }

    /// Sends `signal` to the child (its whole group when it leads one).
    public func send(_ signal: Int32) {
        kill(ownGroup ? -pid : pid, signal)
    }

    /// Waits for the child's end, calling `onSignal` for every other handled signal meanwhile.
    public func wait(_ set: sigset_t, onSignal: (_ signal: Int32, _ fromTerminal: Bool) -> Void) -> Int32 {
        while true {
            if let status = poll() { return status }
            if let (signal, fromTerminal) = Self.nextSignal(set, timeout: 0.5), signal != SIGCHLD { onSignal(signal, fromTerminal) }
        }
    }

    /// Waits for the child's end (no signal handling of its own); its wait status.
    public func waitForExit() -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return status
    }

    /// The exit code a shell reports for a wait status: the code, or 128 + the signal.
    public static func exitCode(_ status: Int32) -> Int32 {
        status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }

    /// Ends the agent the way the child ended: the same exit code, or killed by the same signal
    /// (without a core dump of the agent).
    public static func exit(like status: Int32) -> Never {
        let signal = status & 0x7f
        if signal != 0 && signal != 0x7f {
            var noCore = rlimit(rlim_cur: 0, rlim_max: 0)
            setrlimit(__rlimit_resource_t(RLIMIT_CORE.rawValue), &noCore)
            Glibc.signal(signal, SIG_DFL)
            var set = sigset_t()
            sigemptyset(&set)
            sigaddset(&set, signal)
            pthread_sigmask(SIG_UNBLOCK, &set, nil)
            raise(signal)
        }
        Glibc.exit(exitCode(status))
    }
}
