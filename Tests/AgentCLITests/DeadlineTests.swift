import EnvAgentCore
import Foundation
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `--timeout` is a deadline of the operation, on every transport: a remote that accepts the
/// connection and never answers ends in `gateway_timeout` (exit 11) once the timeout is over,
/// not when the remote hangs up.
@Suite struct DeadlineTests {
    /// URLs of a silent listener for each network transport (ssh: it never sends its banner).
    static let transports = ["git", "ssh", "http"]

    static func url(_ transport: String, port: Int) -> String {
        transport == "ssh" ? "ssh://git@127.0.0.1:\(port)/repo.git" : "\(transport)://127.0.0.1:\(port)/repo.git"
    }

    @Test(arguments: transports)
    func syncToASilentRemoteEndsAtTheTimeout(transport: String) throws {
        let team = try SyncTests.Team()
        let listener = try SilentPeer()
        #expect(try team.box.git("remote", "add", "silent", Self.url(transport, port: listener.port)).status == 0)
        let started = Date()
        // `timeout` only bounds the test if the agent's deadline fails.
        let result = try team.box.exec("/usr/bin/timeout", ["-k", "2", "20", agentBinary, "sync", "--remote", "silent", "--timeout", "2", "--json"],
                                       stdin: nil, env: [:], cwd: team.box.repo)
        let elapsed = Date().timeIntervalSince(started)
        #expect(result.status == 11 && result.envelope?["type"] as? String == "gateway_timeout", "\(transport): \(result.stderr)")
        #expect((result.envelope?["message"] as? String)?.contains("did not answer within 2 s") == true, "\(result.stderr)")
        #expect(elapsed >= 1.9 && elapsed < 5, "\(transport): \(elapsed) s")
    }

    /// Whether this process may give a child its own mount namespace (root with unshare), so
    /// the child can see a resolv.conf of the test's own.
    static let canUnshare: Bool = getuid() == 0 && (try? runProcess("/usr/bin/unshare", ["-m", "true"]).status) == 0

    /// A name lookup that never gets an answer ends at the deadline too: the agent runs in a
    /// mount namespace whose resolv.conf names one server, a UDP socket that reads nothing, with
    /// 30 s timeouts (without the deadline, the lookup alone would take minutes).
    @Test(.enabled(if: canUnshare, "needs root and unshare -m for a private resolv.conf"), arguments: transports)
    func syncWhoseNameLookupNeverAnswersEndsAtTheTimeout(transport: String) throws {
        let team = try SyncTests.Team()
        let server = "127.0.\(Int.random(in: 1...254)).\(Int.random(in: 2...254))"
        let dns = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(dns) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(53).bigEndian
        address.sin_addr.s_addr = inet_addr(server)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(dns, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        try #require(bound == 0, "cannot bind \(server):53")
        let resolvConf = team.box.root + "/resolv.conf"
        try "nameserver \(server)\noptions timeout:30 attempts:3\n".write(toFile: resolvConf, atomically: true, encoding: .utf8)
        let host = "envagent-silent-dns.invalid"
        let url = transport == "ssh" ? "ssh://git@\(host)/repo.git" : "\(transport)://\(host)/repo.git"
        #expect(try team.box.git("remote", "add", "unresolved", url).status == 0)
        let started = Date()
        let result = try team.box.exec("/usr/bin/unshare", ["-m", "/bin/sh", "-c", "mount --bind \"$0\" /etc/resolv.conf && exec \"$@\"",
                                                            resolvConf, "/usr/bin/timeout", "-k", "2", "40", agentBinary,
                                                            "sync", "--remote", "unresolved", "--timeout", "2", "--json"],
                                       // In-process: a resident agent would resolve outside the namespace.
                                       stdin: nil, env: ["AGENT_NO_DAEMON": "1"], cwd: team.box.repo)
        let elapsed = Date().timeIntervalSince(started)
        #expect(result.status == 11 && result.envelope?["type"] as? String == "gateway_timeout", "\(transport): \(result.status) \(result.stderr)")
        #expect(elapsed >= 1.9 && elapsed < 5, "\(transport): \(elapsed) s")
    }

    /// A local remote held by another sync: the wait for its lock ends at the deadline too.
    @Test func syncWaitingForALockedLocalRemoteEndsAtTheTimeout() throws {
        let team = try SyncTests.Team()
        let locked = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        let lockPath = team.remote + "/envagent-sync.lock"
        let holder = Thread {
            _ = try? FileIO.withExclusiveLock(lockPath) {
                locked.signal()
                _ = release.wait(timeout: .now() + 30)
            }
        }
        holder.start()
        defer { release.signal() }
        #expect(locked.wait(timeout: .now() + 10) == .success)
        let started = Date()
        let result = try team.box.exec("/usr/bin/timeout", ["-k", "2", "20", agentBinary, "sync", "--timeout", "2", "--json"],
                                       stdin: nil, env: [:], cwd: team.box.repo)
        let elapsed = Date().timeIntervalSince(started)
        #expect(result.status == 11 && result.envelope?["type"] as? String == "gateway_timeout", "\(result.stderr)")
        #expect((result.envelope?["message"] as? String)?.contains("2 s") == true, "\(result.stderr)")
        #expect(elapsed >= 1.9 && elapsed < 5, "\(elapsed) s")
    }

    /// `agent watch` applies the timeout to every cycle's sync and keeps running.
    @Test func watchReportsEachSilentCycleAtTheTimeout() throws {
        let team = try SyncTests.Team()
        let listener = try SilentPeer()
        #expect(try team.box.git("remote", "add", "silent", Self.url("ssh", port: listener.port)).status == 0)
        let log = team.box.root + "/watch.log"
        #expect(FileManager.default.createFile(atPath: log, contents: nil))
        let watch = Process()
        watch.executableURL = URL(fileURLWithPath: agentBinary)
        watch.arguments = ["watch", "--interval", "1", "--pull-only", "--remote", "silent", "--timeout", "2"]
        watch.currentDirectoryURL = URL(fileURLWithPath: team.box.repo)
        watch.environment = team.box.environment.merging(ProcessInfo.processInfo.environment.filter { $0.key == "PATH" }) { $1 }
            .filter { !$0.value.isEmpty }
        watch.standardError = FileHandle(forWritingAtPath: log)
        watch.standardOutput = FileHandle.nullDevice
        let started = Date()
        try watch.run()
        defer {
            // SIGTERM waits for a sync in progress: SIGKILL if that one never ends.
            watch.terminate()
            if !eventually(limit: 5, { !watch.isRunning }) { kill(watch.processIdentifier, SIGKILL) }
            watch.waitUntilExit()
        }
        func failures() -> Int {
            ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").components(separatedBy: "type=gateway_timeout").count - 1
        }
        #expect(eventually(limit: 5) { failures() >= 1 }, "\((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        #expect(Date().timeIntervalSince(started) < 5.5)
        #expect(watch.isRunning)
    }
}
