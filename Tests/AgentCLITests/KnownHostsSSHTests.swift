import EnvAgentCore
import Foundation
import TestSupport
import Testing

/// Host-key checks of `agent sync` over ssh:// against the test's own sshd, with known_hosts
/// written the ways OpenSSH writes it: hashed (`ssh-keygen -H`, Debian's HashKnownHosts yes),
/// every key type, and a host known only by its RSA key.
@Suite(.enabled(if: Libgit2.supportsSSH, "this libgit2 is built without the SSH transport (libssh2)"),
       .enabled(if: TestSSHServer.isAvailable, "needs OpenSSH: apt-get install openssh-server openssh-client"))
struct KnownHostsSSHTests {
    /// A store with one secret, a bare remote served by an sshd with `hostKeyTypes`, and the key
    /// that sshd authorises.
    struct Setup {
        let box: Sandbox
        let server: TestSSHServer
        let key: String
        var knownHosts: String { box.root + "/.ssh/known_hosts" }

        init(hostKeyTypes: [String]) throws {
            box = try Sandbox()
            key = box.root + "/id"
            try #require(runProcess("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]).status == 0)
            server = try TestSSHServer(folder: box.root + "/sshd", authorizedKey: try String(contentsOfFile: key + ".pub", encoding: .utf8),
                                       hostKeyTypes: hostKeyTypes)
            let remote = box.root + "/remote.git"
            #expect(try box.git("init", "-q", "--bare", remote, cwd: box.root).status == 0)
            #expect(try box.agent("init").status == 0)
            #expect(try box.git("remote", "add", "origin", server.url(for: remote)).status == 0)
            #expect(try box.agent("set", "API_KEY", stdin: "sk-known-hosts-0001").status == 0)
            try FileManager.default.createDirectory(atPath: box.root + "/.ssh", withIntermediateDirectories: true)
        }

        /// known_hosts holding the host's keys of `types` (`[127.0.0.1]:PORT TYPE KEY`), hashed
        /// by `ssh-keygen -H` when `hashed`.
        func writeKnownHosts(_ types: [String], hashed: Bool) throws {
            let lines = types.map { type in
                "[127.0.0.1]:\(server.port) " + server.hostPublicKeys[type]!.split(separator: " ").prefix(2).joined(separator: " ")
            }
            try (lines.joined(separator: "\n") + "\n").write(toFile: knownHosts, atomically: true, encoding: .utf8)
            if hashed {
                try #require(runProcess("/usr/bin/ssh-keygen", ["-H", "-f", knownHosts]).status == 0)
                let text = try String(contentsOfFile: knownHosts, encoding: .utf8)
                try #require(text.hasPrefix("|1|") && !text.contains("127.0.0.1"), "\(text)")
            }
        }

        func sync(_ args: String...) throws -> Result {
            try box.exec("/usr/bin/timeout", ["60", agentBinary, "sync", "--timeout", "20", "--ssh-key", key] + args,
                         stdin: nil, env: [:], cwd: box.repo)
        }
    }

    @Test(arguments: ["ed25519", "ecdsa"])
    func hashedEntriesAreKnown(_ type: String) throws {
        let setup = try Setup(hostKeyTypes: [type])
        try setup.writeKnownHosts([type], hashed: true)
        let before = try String(contentsOfFile: setup.knownHosts, encoding: .utf8)
        let synced = try setup.sync()
        #expect(synced.status == 0, "\(type): \(synced.stderr)\n\(setup.server.log)")
        #expect(try String(contentsOfFile: setup.knownHosts, encoding: .utf8) == before) // nothing appended
    }

    @Test func hashedEntryWithAnotherKeyIsAMismatch() throws {
        let setup = try Setup(hostKeyTypes: ["ed25519"])
        let other = setup.box.root + "/other"
        try #require(runProcess("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", other]).status == 0)
        let line = "[127.0.0.1]:\(setup.server.port) " + (try String(contentsOfFile: other + ".pub", encoding: .utf8)).split(separator: " ").prefix(2).joined(separator: " ")
        try (line + "\n").write(toFile: setup.knownHosts, atomically: true, encoding: .utf8)
        #expect(runProcessOK("/usr/bin/ssh-keygen", ["-H", "-f", setup.knownHosts]))
        let refused = try setup.sync()
        #expect(refused.status == 10 && refused.stderr.contains("does not match"), "\(refused.stderr)")
        #expect(refused.stderr.contains("ssh-keygen -R '[127.0.0.1]:\(setup.server.port)'"), "\(refused.stderr)")
    }

    @Test func hostKnownOnlyByItsRSAKeyGetsAHintThatWorks() throws {
        let setup = try Setup(hostKeyTypes: ["ed25519", "rsa"])
        let port = setup.server.port
        for hashed in [false, true] {
            try setup.writeKnownHosts(["rsa"], hashed: hashed)
            let failed = try setup.sync()
            #expect(failed.status == 10, "\(failed.stderr)")
            #expect(failed.stderr.contains("knows 127.0.0.1 only by its ssh-rsa key"), "\(failed.stderr)")
            #expect(failed.stderr.contains("hint: ") && failed.stderr.contains("ssh-keyscan -p \(port) -t ed25519 127.0.0.1"), "\(failed.stderr)")
        }
        // Adding the ed25519 key after the RSA line is not enough: libgit2 still asks for RSA.
        let scanned = try runProcess("/usr/bin/ssh-keyscan", ["-p", "\(port)", "-t", "ed25519", "127.0.0.1"])
        #expect(scanned.status == 0 && scanned.stdout.contains("ssh-ed25519"), "\(scanned.stderr)")
        let current = try String(contentsOfFile: setup.knownHosts, encoding: .utf8)
        try (current + scanned.stdout).write(toFile: setup.knownHosts, atomically: true, encoding: .utf8)
        let both = try setup.sync()
        #expect(both.status == 10 && both.stderr.contains("ssh-keygen -R '[127.0.0.1]:\(port)'"), "\(both.stderr)")
        // Doing what the hint says: the RSA line removed, the ed25519 key (ssh-keyscan's line) added.
        #expect(runProcessOK("/usr/bin/ssh-keygen", ["-R", "[127.0.0.1]:\(port)", "-f", setup.knownHosts]))
        try scanned.stdout.write(toFile: setup.knownHosts, atomically: true, encoding: .utf8)
        let synced = try setup.sync()
        #expect(synced.status == 0, "\(synced.stderr)")
    }

    @Test func serverWithOnlyAnRSAHostKeyIsNamedAsSuch() throws {
        let setup = try Setup(hostKeyTypes: ["rsa"])
        try setup.writeKnownHosts(["rsa"], hashed: true)
        let failed = try setup.sync()
        #expect(failed.status == 10 && failed.stderr.contains("Unable to exchange encryption keys"), "\(failed.stderr)")
        #expect(failed.stderr.contains("a server with only an RSA host key needs an ed25519 one"), "\(failed.stderr)")
    }
}

func runProcessOK(_ path: String, _ args: [String]) -> Bool {
    (try? runProcess(path, args).status) == 0
}
