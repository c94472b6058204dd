import AgentWire
import CAgentSocket
import EnvAgentCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The resident agent (`agent start`): one process per user that holds the unlocked identity in
/// guarded memory and answers on a Unix socket in a private folder. Each command a client sends
/// runs in a process forked from this one — the runtime, libgit2 and the key are already loaded
/// there — with the client's standard streams, directory, umask and environment, through the
/// same `Agent.main` as in-process, so output and exit codes are byte for byte the same. The
/// request process opens the repository itself, so it never sees stale data. This process is
/// single-threaded (fork keeps only the calling thread) and never runs a command itself.
final class ResidentAgent {
    /// The unlocked key, its public key text, and the file it came from.
    typealias HeldIdentity = (key: GuardedKey, publicKeyText: String, path: String)

    struct Configuration {
        var socketPath: String
        var identity: HeldIdentity?
        var lifetimeSeconds: Int?
    }

    /// A request being run: its process, the client's connection, and the read end of a pipe
    /// whose write end only the request process holds (end of file = it exited).
    private struct InFlight {
        let pid: pid_t
        let connection: WireConnection
        let exitPipe: Int32
        var clientGone = false
    }

    private let configuration: Configuration
    private let listener: Int32
    private let started = time(nil)
    private var served = 0
    private var inFlight: [InFlight] = []
    private var stopping = false
    /// Device and inode of the socket this agent bound: an agent whose socket was removed or
    /// replaced can never be reached again, so it stops instead of holding the key for nobody
    /// (gpg-agent does the same). Checked every `socketCheckSeconds`.
    private let socketIdentity: (dev: UInt, ino: UInt)?
    private static let socketCheckSeconds = 10

    init(configuration: Configuration, listener: Int32) {
        self.configuration = configuration
        self.listener = listener
        socketIdentity = Self.fileIdentity(configuration.socketPath)
    }

    private static func fileIdentity(_ path: String) -> (dev: UInt, ino: UInt)? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        return (UInt(st.st_dev), UInt(st.st_ino))
    }

    /// Whether the socket path still names the socket this agent listens on.
    private var socketStillOurs: Bool {
        guard let socketIdentity, let current = Self.fileIdentity(configuration.socketPath) else { return false }
        return current == socketIdentity
    }

    /// Creates the socket (mode 0600 in a 0700 folder of the user's own), replacing a stale one.
    static func listen(at path: String) throws -> Int32 {
        let folder = AgentSocketPath.folder(of: path)
        if !FileIO.isDirectory(folder) { try FileIO.makeDirectories(folder, mode: 0o700) }
        guard AgentSocketPath.isPrivateFolder(folder) else {
            throw AgentError(.forbidden, "the agent's folder \(folder) is not private (it must be yours, mode 0700)",
                             hint: "chmod 700 \(folder), or set AGENT_SOCK to a path in a folder of your own")
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw AgentError(.internalError, "socket: \(FileIO.errnoMessage())") }
        guard path.utf8.count < MemoryLayout.size(ofValue: sockaddr_un().sun_path) else {
            close(fd)
            throw AgentError(.invalidRequest, "the socket path \(path) is too long", hint: "set AGENT_SOCK to a shorter path")
        }
        _ = unlink(path) // a stale socket: the caller checked that no agent answers on it
        let previous = umask(0o077)
        let rc = UnixSocket.bind(fd, to: path)
        umask(previous)
        guard rc == 0, Glibc.listen(fd, 64) == 0 else {
            let message = FileIO.errnoMessage()
            close(fd)
            throw AgentError(.internalError, "cannot listen on \(path): \(message)")
        }
        return fd
    }

    /// Serves until `agent stop`, SIGTERM/SIGINT/SIGHUP, the end of the lifetime or the removal
    /// of its socket; then stops taking requests, wipes the key, removes the socket (if still
    /// its own), lets running requests finish and exits.
    func run() -> Never {
        _ = agent_unblock_signals()
        let signals = Self.signalPipe()
        let deadline = configuration.lifetimeSeconds.map { started + $0 }
        var nextSocketCheck = time(nil) + Self.socketCheckSeconds
        while !(stopping && inFlight.isEmpty) {
            var fds: [pollfd] = []
            if !stopping { fds.append(pollfd(fd: listener, events: Int16(POLLIN), revents: 0)) }
            fds.append(pollfd(fd: signals, events: Int16(POLLIN), revents: 0))
            for request in inFlight {
                fds.append(pollfd(fd: request.exitPipe, events: Int16(POLLIN), revents: 0))
                fds.append(pollfd(fd: request.clientGone ? -1 : request.connection.fd, events: Int16(POLLIN), revents: 0))
            }
            var timeout: Int32 = -1
            if !stopping {
                let wake = min(deadline ?? .max, nextSocketCheck)
                timeout = Int32(clamping: max(0, wake - time(nil)) * 1000)
            }
            let ready = poll(&fds, nfds_t(fds.count), timeout)
            if ready < 0 { if errno == EINTR { continue }; break }
            if let deadline, !stopping, time(nil) >= deadline { beginStopping() }
            if !stopping, time(nil) >= nextSocketCheck {
                nextSocketCheck = time(nil) + Self.socketCheckSeconds
                if !socketStillOurs { beginStopping(removingSocket: false) }
            }
            for entry in fds where entry.revents != 0 {
                if entry.fd == listener { accept() }
                else if entry.fd == signals { beginStopping() }
                else if let index = inFlight.firstIndex(where: { $0.exitPipe == entry.fd }) { finish(index) }
                else if let index = inFlight.firstIndex(where: { $0.connection.fd == entry.fd }) { clientSpoke(index) }
            }
        }
        beginStopping()
        exit(0)
    }

    private func beginStopping(removingSocket: Bool = true) {
        guard !stopping else { return }
        stopping = true
        close(listener)
        // Never another agent's socket that replaced ours.
        if removingSocket && socketStillOurs { _ = unlink(configuration.socketPath) }
        configuration.identity?.key.wipe()
    }

    private func accept() {
        let fd = Glibc.accept(listener, nil, nil)
        guard fd >= 0 else { return }
        Self.closeOnExec(fd)
        let connection = WireConnection(fd: fd)
        var uid: uid_t = 0, pid: pid_t = 0
        // Only this user's processes are served (ssh-agent checks the same).
        guard agent_socket_peer(fd, &uid, &pid) == 0, uid == getuid() else { connection.close(); return }
        // A client that connects and sends nothing must not hold up the others.
        var wait = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, socklen_t(MemoryLayout<timeval>.size))
        var fds: [Int32] = []
        guard let (kind, payload) = connection.receive(fds: &fds) else {
            fds.forEach { _ = close($0) }
            connection.close()
            return
        }
        wait = timeval(tv_sec: 0, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, socklen_t(MemoryLayout<timeval>.size))
        let frame = WireFrame(rawValue: kind)
        if frame == .run, fds.count == 3 || fds.count == 4, let request = WireRequest(decoding: payload) {
            start(request, streams: fds, connection: connection)
            return
        }
        // Descriptors come only with a well-formed request; any others are dropped.
        fds.forEach { _ = close($0) }
        switch frame {
        case .ping:
            reply(connection, "\(getpid())")
        case .status:
            reply(connection, statusText())
        case .stop:
            reply(connection, "\(getpid())")
            beginStopping()
        default: // a malformed request, or a frame only the agent sends
            connection.close()
        }
    }

    private func reply(_ connection: WireConnection, _ text: String) {
        connection.send(.text, Array(text.utf8))
        connection.close()
    }

    private func statusText() -> String {
        var lines = [
            "pid \(getpid())",
            "socket \(configuration.socketPath)",
            "identity \(configuration.identity.map { "\($0.publicKeyText) (\($0.path))" } ?? "none")",
            "running \(time(nil) - started)s",
            "requests \(served)",
            "running-requests \(inFlight.count)",
        ]
        if let lifetime = configuration.lifetimeSeconds { lines.append("lifetime-left \(max(0, started + lifetime - time(nil)))s") }
        return lines.joined(separator: "\n")
    }

    /// Forks the process that runs `request`.
    private func start(_ request: WireRequest, streams: [Int32], connection: WireConnection) {
        var exitPipe: [Int32] = [-1, -1]
        guard Self.pipe(&exitPipe) else {
            streams.forEach { _ = close($0) }
            connection.close()
            return
        }
        let agentPID = getpid()
        let pid = fork()
        if pid == 0 {
            close(exitPipe[0])
            runRequest(request, streams: streams, connection: connection, agentPID: agentPID)
        }
        close(exitPipe[1])
        streams.forEach { _ = close($0) }
        guard pid > 0 else {
            close(exitPipe[0])
            connection.close()
            return
        }
        served += 1
        inFlight.append(InFlight(pid: pid, connection: connection, exitPipe: exitPipe[0]))
    }

    /// In the forked process: becomes the client's command and runs it.
    private func runRequest(_ request: WireRequest, streams: [Int32], connection: WireConnection, agentPID: pid_t) -> Never {
        _ = agent_die_with_parent()
        if getppid() != agentPID { _exit(AgentUnavailable.exitCode) }
        close(listener)
        for other in inFlight {
            other.connection.close()
            close(other.exitPipe)
        }
        for signal in [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGCHLD] { Glibc.signal(signal, SIG_DFL) }
        _ = agent_unblock_signals()
        for (target, fd) in streams.prefix(3).enumerated() {
            dup2(fd, Int32(target))
        }
        for fd in streams.prefix(3) where fd > 2 { close(fd) }
        if streams.count == 4 { Terminal.useClientTerminal(streams[3]) }
        umask(mode_t(request.umask))
        clearenv()
        for entry in CString.copies(request.environment) { if let entry { putenv(entry) } }
        guard let directory = CString.copies([request.directory]).first!, chdir(directory) == 0 else {
            Console.err("agent: error: cannot enter \(String(decoding: request.directory, as: UTF8.self)): \(FileIO.errnoMessage())")
            exit(AgentError.Kind.invalidRequest.exitCode)
        }
        // Resident in this process only: a protected identity file stating its public key opens
        // without a passphrase (see IdentitySource.load); any other identity is read as usual.
        if let identity = configuration.identity, let resident = try? identity.key.withKey({ try Identity(secretKey: $0) }) {
            ResidentIdentity.install(resident)
        }
        ResidentRequest.connection.withLock { $0 = connection }
        ValueOptions.rawArguments = [Array("agent".utf8)] + request.arguments
        Agent.main(request.arguments.map { String(decoding: $0, as: UTF8.self) })
        exit(0)
    }

    /// The request process exited: relay how, and forget it.
    private func finish(_ index: Int) {
        let request = inFlight.remove(at: index)
        var status: Int32 = 0
        while waitpid(request.pid, &status, 0) < 0 && errno == EINTR {}
        let signal = status & 0x7f
        var writer = WireWriter()
        if signal == 0 {
            writer.int((status >> 8) & 0xff)
            request.connection.send(.exited, writer.bytes)
        } else {
            writer.int(signal)
            request.connection.send(.signalled, writer.bytes)
        }
        request.connection.close()
        close(request.exitPipe)
    }

    /// The client sent a cancel frame (it got Ctrl-C or a termination signal) or went away:
    /// the request process gets that signal (SIGHUP when the client vanished).
    private func clientSpoke(_ index: Int) {
        var reader: WireReader
        if let (kind, payload) = inFlight[index].connection.receive(), kind == WireFrame.cancel.rawValue {
            reader = WireReader(payload)
            kill(inFlight[index].pid, reader.int() ?? SIGINT)
        } else {
            inFlight[index].clientGone = true
            kill(inFlight[index].pid, SIGHUP)
        }
    }

    /// A pipe whose ends are closed on exec: the commands a request runs never inherit them.
    private static func pipe(_ fds: inout [Int32]) -> Bool {
        guard Glibc.pipe(&fds) == 0 else { return false }
        fds.forEach(closeOnExec)
        return true
    }

    private static func closeOnExec(_ fd: Int32) {
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
    }

    /// SIGTERM, SIGINT and SIGHUP become a byte on a pipe that `run` polls; SIGPIPE is ignored
    /// (a client that went away must not end the agent).
    private static func signalPipe() -> Int32 {
        var fds: [Int32] = [-1, -1]
        _ = pipe(&fds)
        _ = fcntl(fds[1], F_SETFL, O_NONBLOCK)
        SignalPipe.writeEnd = fds[1]
        for signal in [SIGTERM, SIGINT, SIGHUP] {
            Glibc.signal(signal) { number in
                var byte = UInt8(truncatingIfNeeded: number)
                _ = write(SignalPipe.writeEnd, &byte, 1)
            }
        }
        Glibc.signal(SIGPIPE, SIG_IGN)
        return fds[0]
    }
}

private enum SignalPipe {
    nonisolated(unsafe) static var writeEnd: Int32 = -1
}

/// Set in a request process forked by the resident agent: the client's connection, over which
/// `agent run` hands the resolved command back so that it runs in the client.
enum ResidentRequest {
    static let connection = Mutex<WireConnection?>(nil)

    /// Sends `command` with `environment` for the client to exec, if this process serves a
    /// client; false in-process.
    static func execInClient(_ command: [String], environment: [String]) -> Bool {
        guard let connection = connection.withLock({ $0 }) else { return false }
        var writer = WireWriter()
        writer.strings(command)
        writer.strings(environment)
        return connection.send(.exec, writer.bytes)
    }
}
