import EnvAgentCore
import Foundation
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A throw-away OpenSSH server on 127.0.0.1 (its own host key, authorized_keys and config in a
/// temp folder), serving the git CLI's upload-pack/receive-pack to the current user.
final class TestSSHServer: @unchecked Sendable {
    static let binary = "/usr/sbin/sshd"
    static var isAvailable: Bool {
        [binary, "/usr/bin/ssh-keygen", "/usr/bin/ssh-agent", "/usr/bin/ssh-add"].allSatisfy { FileManager.default.isExecutableFile(atPath: $0) }
    }

    let folder: String
    let port: Int
    let hostPublicKey: String
    /// Key type (`ed25519`, `ecdsa`, `rsa`) → the host's public key line (`TYPE BASE64 COMMENT`).
    let hostPublicKeys: [String: String]

    /// - Parameters:
    ///   - authorizedKey: the public key line the server accepts.
    ///   - hostKeyTypes: the host keys it has, in the order it offers them (`ssh-keygen -t`).
    init(folder: String, authorizedKey: String, hostKeyTypes: [String] = ["ed25519"]) throws {
        self.folder = folder
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var keys: [String: String] = [:]
        for (index, type) in hostKeyTypes.enumerated() {
            let file = folder + (index == 0 ? "/host_key" : "/host_key_\(type)")
            try #require(runProcess("/usr/bin/ssh-keygen", ["-q", "-t", type, "-N", "", "-f", file]).status == 0)
            keys[type] = try String(contentsOfFile: file + ".pub", encoding: .utf8)
        }
        hostPublicKeys = keys
        hostPublicKey = keys[hostKeyTypes[0]]!
        try authorizedKey.write(toFile: folder + "/authorized_keys", atomically: true, encoding: .utf8)
        port = try Self.freePort()
        try """
            Port \(port)
            ListenAddress 127.0.0.1
            \(hostKeyTypes.enumerated().map { "HostKey \(folder)" + ($0.offset == 0 ? "/host_key" : "/host_key_\($0.element)") }.joined(separator: "\n"))
            AuthorizedKeysFile \(folder)/authorized_keys
            PidFile \(folder)/sshd.pid
            PasswordAuthentication no
            KbdInteractiveAuthentication no
            PermitRootLogin prohibit-password
            StrictModes no
            UsePAM no

            """.write(toFile: folder + "/sshd_config", atomically: true, encoding: .utf8)
        // Privilege separation needs this folder when sshd runs as root.
        if getuid() == 0 { try? FileManager.default.createDirectory(atPath: "/run/sshd", withIntermediateDirectories: true) }
        // sshd daemonises (and writes its pid file) rather than running under Foundation's
        // Process: sshd closes every inherited descriptor, which Foundation takes for the child's
        // exit and then blocks its shared reaper in waitpid, so no later process is ever reaped.
        let started = try runProcess(Self.binary, ["-f", folder + "/sshd_config", "-E", folder + "/sshd.log"])
        try #require(started.status == 0, "sshd: \(started.stderr)")
        // Ready when the port accepts connections (bounded: a broken sshd fails the test, not hangs it).
        guard eventually({ Self.accepts(port: port) }) else {
            throw POSIXError(.ECONNREFUSED, userInfo: [NSLocalizedDescriptionKey: "sshd did not start: \(log)"])
        }
    }

    deinit {
        if let text = try? String(contentsOfFile: folder + "/sshd.pid", encoding: .utf8),
           let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
            kill(pid, SIGTERM)
        }
    }

    var log: String { (try? String(contentsOfFile: folder + "/sshd.log", encoding: .utf8)) ?? "" }

    /// `ssh://USER@127.0.0.1:PORT/PATH`
    func url(for path: String) -> String {
        let user = getpwuid(getuid()).map { String(cString: $0.pointee.pw_name) } ?? "root"
        return "ssh://\(user)@127.0.0.1:\(port)\(path)"
    }

    private static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        return try bindToLoopback(fd)
    }

    private static func accepts(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}

/// Starts a long-running helper (ssh-agent) detached from this process, with every inherited
/// descriptor closed, and returns its pid. Started directly through Foundation's Process, a helper
/// that outlives its parent or closes its descriptors confuses Process's child reaping and hangs
/// later processes; Python's subprocess closes descriptors (close_fds) and returns at once.
func startDetached(_ command: [String]) throws -> pid_t {
    let launcher = "import subprocess, sys; print(subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL, " +
        "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True).pid)"
    let started = try runProcess("/usr/bin/timeout", ["10", "python3", "-c", launcher] + command)
    guard started.status == 0, let pid = pid_t(started.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) else {
        throw POSIXError(.ECHILD, userInfo: [NSLocalizedDescriptionKey: "cannot start \(command[0]): \(started.stderr)"])
    }
    return pid
}

/// `agent sync` over ssh:// against a real sshd: host-key checks (unknown, accepted, changed),
/// key-file authentication (authorised and refused), and a round trip between two clones.
@Suite(.enabled(if: Libgit2.supportsSSH, "this libgit2 is built without the SSH transport (libssh2)"),
       .enabled(if: TestSSHServer.isAvailable, "needs OpenSSH: apt-get install openssh-server openssh-client"))
struct SSHSyncTests {
    @Test func syncOverSSHChecksHostKeysAndAuthenticates() throws {
        let box = try Sandbox()
        let keys = box.root + "/keys"
        try FileManager.default.createDirectory(atPath: keys, withIntermediateDirectories: true)
        for name in ["id", "stranger"] {
            try #require(runProcess("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", "\(keys)/\(name)"]).status == 0)
        }
        let server = try TestSSHServer(folder: box.root + "/sshd",
                                       authorizedKey: try String(contentsOfFile: keys + "/id.pub", encoding: .utf8))
        let remote = box.root + "/remote.git"
        #expect(try box.git("init", "-q", "--bare", remote, cwd: box.root).status == 0)
        #expect(try box.agent("init", "--name", "alice").status == 0)
        #expect(try box.git("remote", "add", "origin", server.url(for: remote)).status == 0)
        #expect(try box.agent("set", "API_KEY", stdin: "sk-over-ssh-000001").status == 0)

        /// Every sync is bounded twice: the agent's own deadline and `timeout` around the process.
        func sync(_ args: String..., json: Bool = true, cwd: String? = nil) throws -> Result {
            try box.exec("/usr/bin/timeout", ["60", agentBinary, "sync", "--timeout", "20"] + (json ? ["--json"] : []) + args,
                         stdin: nil, env: [:], cwd: cwd ?? box.repo)
        }
        let knownHosts = box.root + "/.ssh/known_hosts"

        // An unknown host is refused until accepted explicitly; nothing is written meanwhile.
        let unknown = try sync("--ssh-key", keys + "/id")
        #expect(unknown.status == 10 && unknown.envelope?["type"] as? String == "bad_gateway", "\(unknown.stderr)\n\(server.log)")
        #expect(unknown.stderr.contains("is not in \(knownHosts)"), "\(unknown.stderr)")
        let advice = try sync("--ssh-key", keys + "/id", json: false)
        #expect(advice.status == 10 && advice.stderr.contains("hint:") && advice.stderr.contains("--accept-new-host-key"), "\(advice.stderr)")
        #expect(!FileManager.default.fileExists(atPath: knownHosts))

        let accepted = try sync("--ssh-key", keys + "/id", "--accept-new-host-key")
        #expect(accepted.status == 0, "\(accepted.stderr)\n\(server.log)")
        let recorded = try String(contentsOfFile: knownHosts, encoding: .utf8)
        let hostKeyBase64 = server.hostPublicKey.split(separator: " ")[1]
        #expect(recorded.contains("[127.0.0.1]:\(server.port) ssh-ed25519 \(hostKeyBase64)"), "\(recorded)")
        let pushed = try box.git("--git-dir", remote, "rev-parse", "main", cwd: box.root)
        let local = try box.git("rev-parse", "HEAD")
        #expect(pushed.status == 0 && pushed.stdout == local.stdout)

        // A second machine clones, changes a value and syncs over ssh; the first one pulls it.
        let laptop = box.root + "/laptop"
        #expect(try box.git("clone", "-q", remote, laptop, cwd: box.root).status == 0)
        #expect(try box.git("remote", "set-url", "origin", server.url(for: remote), cwd: laptop).status == 0)
        #expect(try box.agent(["update", "API_KEY"], stdin: "sk-from-laptop-0002", cwd: laptop).status == 0)
        #expect(try sync("--ssh-key", keys + "/id", cwd: laptop).status == 0)
        let pulled = try sync("--ssh-key", keys + "/id")
        #expect(pulled.status == 0, "\(pulled.stderr)")
        #expect(try box.agent("render").stdout == "API_KEY='sk-from-laptop-0002'\n")

        // The default credential is ssh-agent's (SSH_AUTH_SOCK), as for git.
        let agentSocket = box.root + "/ssh-agent.sock"
        let agentPID = try startDetached(["/usr/bin/ssh-agent", "-D", "-a", agentSocket])
        defer { kill(agentPID, SIGKILL) } // SIGKILL: a signal mask inherited through the launcher may block SIGTERM
        #expect(eventually { FileManager.default.fileExists(atPath: agentSocket) }, "ssh-agent never made its socket")
        #expect(try runProcess("/usr/bin/timeout", ["10", "/usr/bin/ssh-add", "-q", keys + "/id"], environment: ["SSH_AUTH_SOCK": agentSocket]).status == 0)
        #expect(try box.agent(["update", "API_KEY"], stdin: "sk-via-ssh-agent-03").status == 0)
        let viaAgent = try box.exec("/usr/bin/timeout", ["60", agentBinary, "sync", "--timeout", "20"], stdin: nil,
                                    env: ["SSH_AUTH_SOCK": agentSocket, "AGENT_SSH_KEY": ""], cwd: box.repo)
        #expect(viaAgent.status == 0 && viaAgent.stdout.hasPrefix("pushed"), "\(viaAgent.stdout)\(viaAgent.stderr)")
        let withoutAgent = try box.exec("/usr/bin/timeout", ["60", agentBinary, "sync", "--timeout", "20"], stdin: nil,
                                        env: ["SSH_AUTH_SOCK": "", "AGENT_SSH_KEY": ""], cwd: box.repo)
        #expect(withoutAgent.status == 10 && withoutAgent.stderr.contains("SSH_AUTH_SOCK is not set")
                && withoutAgent.stderr.contains("hint: pass --ssh-key"), "\(withoutAgent.stderr)")
        let missingKey = try sync("--ssh-key", keys + "/no-such-key", json: false)
        #expect(missingKey.status == 10 && missingKey.stderr.contains("cannot read the SSH key file"), "\(missingKey.stderr)")

        // A key the server does not know: refused authentication, named as such.
        let stranger = try sync("--ssh-key", keys + "/stranger")
        #expect(stranger.status == 10 && stranger.stderr.contains("refused authentication"), "\(stranger.stderr)")

        // The server's key changes (or someone sits in between): refused, known_hosts untouched.
        let otherHostKey = box.root + "/other_host_key"
        #expect(try runProcess("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", otherHostKey]).status == 0)
        let forged = "[127.0.0.1]:\(server.port) " + (try String(contentsOfFile: otherHostKey + ".pub", encoding: .utf8))
            .split(separator: " ").prefix(2).joined(separator: " ") + "\n"
        try forged.write(toFile: knownHosts, atomically: true, encoding: .utf8)
        let mismatch = try sync("--ssh-key", keys + "/id")
        #expect(mismatch.status == 10 && mismatch.stderr.contains("does not match"), "\(mismatch.stderr)")
        #expect(try String(contentsOfFile: knownHosts, encoding: .utf8) == forged)
        // No value crossed into any message.
        for result in [unknown, accepted, pulled, viaAgent, withoutAgent, stranger, mismatch] {
            #expect(!result.stderr.contains("sk-over-ssh") && !result.stderr.contains("sk-from-laptop") && !result.stderr.contains("sk-via-ssh"))
        }
    }
}
