import AsyncHTTPClient
import EnvAgentCore
import Foundation
import NIOCore
import NIOPosix
import Synchronization
import TestSupport
import Testing
@testable import EnvAgentServer

/// `agent serve` and `agent tokens` as a user runs them: the built binary, real signals.
@Suite("agent serve and agent tokens (the binary)")
struct ServeProcessTests {
    /// A running `agent serve`; its stderr is collected.
    final class Server: Sendable {
        let process: Process
        private let output = Shared("")
        let address: String

        init(_ fixture: APIFixture, _ arguments: [String], environment extra: [String: String] = [:]) throws {
            process = Process()
            process.executableURL = URL(fileURLWithPath: try agentBinaryPath())
            process.arguments = ["serve", "--store", fixture.repo, "--state-dir", fixture.stateDirectory] + arguments
            var environment = ProcessInfo.processInfo.environment
            environment["AGENT_IDENTITY_FILE"] = fixture.identitySource.environmentFile
            environment["AGENT_IDENTITY"] = nil
            environment.merge(extra) { $1 }
            process.environment = environment
            let pipe = Pipe()
            process.standardError = pipe
            process.standardOutput = FileHandle.nullDevice
            let output = self.output
            pipe.fileHandleForReading.readabilityHandler = { handle in
                let data = handle.availableData
                output.value.withLock { $0 += String(decoding: data, as: UTF8.self) }
            }
            try process.run()
            let deadline = Date().addingTimeInterval(30)
            var address = ""
            while Date() < deadline && process.isRunning {
                if let line = output.value.withLock({ $0 }).split(separator: "\n").first(where: { $0.hasPrefix("agent: serving ") }) {
                    address = String(line.dropFirst("agent: serving ".count))
                    break
                }
                Thread.sleep(forTimeInterval: 0.02)
            }
            self.address = address
        }

        var stderr: String { output.value.withLock { $0 } }

        /// SIGTERM, then the exit status.
        func terminate() -> Int32 {
            process.terminate()
            process.waitUntilExit()
            Thread.sleep(forTimeInterval: 0.05)
            return process.terminationStatus
        }
    }

    static func get(_ http: HTTPClient, _ url: String, token: String?) async throws -> (Int, String) {
        var request = HTTPClientRequest(url: url)
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        let response = try await http.execute(request, timeout: .seconds(30))
        return (Int(response.status.code), String(buffer: try await response.body.collect(upTo: 1 << 20)))
    }

    @Test func unixSocketIsPrivateAndServes() async throws {
        let fixture = try APIFixture()
        try fixture.seed([("SOCKET_KEY", "socket-value-0123456789")])
        let token = try fixture.token([.read])
        let socket = fixture.root + "/api.sock"
        let server = try Server(fixture, ["--socket", socket])
        #expect(server.address == "unix:" + socket, "\(server.stderr)")
        #expect(FileIO.mode(socket) == 0o600)
        let http = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton)
        let base = "http+unix://" + socket.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        let health = try await Self.get(http, base + "/healthz", token: nil)
        #expect(health.0 == 200)
        let list = try await Self.get(http, base + "/v1/environments/dev/secrets", token: token)
        #expect(list.0 == 200 && list.1.contains("socke••••89"), "\(list)")
        try await http.shutdown()
        #expect(server.terminate() == 0)
        #expect(!FileManager.default.fileExists(atPath: socket))
        #expect(server.stderr.contains("path=/v1/environments/dev/secrets"))
        #expect(!server.stderr.contains("socket-value") && !server.stderr.contains(String(token.suffix(20))))
    }

    /// A passphrase-protected identity is unlocked once at start (from AGENT_PASSPHRASE_FILE):
    /// requests decrypt with the resident key even after the passphrase file is gone.
    @Test func protectedIdentityIsUnlockedOnceAtStart() async throws {
        let fixture = try APIFixture()
        try fixture.seed([("LOCKED_KEY", "locked-value-0123456789")])
        let token = try fixture.token([.read])
        let identityFile = try #require(fixture.identitySource.environmentFile)
        let identity = try fixture.identitySource.require()
        let passphraseFile = fixture.root + "/pass"
        try "serve pass\n".write(toFile: passphraseFile, atomically: true, encoding: .utf8)
        try IdentitySource.replace(identityFile, with: identity, passphrase: SecretBytes(Array("serve pass".utf8)), limits: .interactive)
        let server = try Server(fixture, ["--listen", "127.0.0.1:0"], environment: ["AGENT_PASSPHRASE_FILE": passphraseFile])
        let port = try #require(Int(server.address.split(separator: ":").last ?? ""), "\(server.stderr)")
        try FileManager.default.removeItem(atPath: passphraseFile)
        let http = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton)
        for _ in 0..<2 {
            let list = try await Self.get(http, "http://127.0.0.1:\(port)/v1/environments/dev/secrets", token: token)
            #expect(list.0 == 200 && list.1.contains("locke••••89"), "\(list)")
        }
        try await http.shutdown()
        #expect(server.terminate() == 0)
        #expect(!server.stderr.contains("serve pass"))

        // Without the passphrase file (and no terminal) it refuses to start: exit 3.
        let refused = try Server(fixture, ["--listen", "127.0.0.1:0"])
        refused.process.waitUntilExit()
        _ = await waitUntil { refused.stderr.contains("AGENT_PASSPHRASE_FILE") } // the pipe's last bytes
        #expect(refused.process.terminationStatus == 3, "\(refused.stderr)")
        #expect(refused.stderr.contains("AGENT_PASSPHRASE_FILE"))
    }

    /// SIGTERM while writes are in flight: the test holds the store's write lock so the writes
    /// cannot finish, sends SIGTERM, and checks the server waits; once the lock is released the
    /// server commits what it took, answers, and exits 0. Every answered update is in the store
    /// and git is consistent.
    @Test func sigtermCommitsInFlightWrites() async throws {
        let fixture = try APIFixture()
        let names = (0..<24).map { "INFLIGHT_\($0)" }
        try fixture.seed(names.map { ($0, "before-\($0)") })
        let token = try fixture.token([.write])
        let server = try Server(fixture, ["--listen", "127.0.0.1:0", "--rate-limit", "0", "--log-level", "debug"])
        let port = try #require(Int(server.address.split(separator: ":").last ?? ""), "\(server.stderr)")
        let lock = open(fixture.repo + "/.git/envagent.lock", O_RDWR | O_CREAT, 0o600)
        #expect(lock >= 0 && flock(lock, LOCK_EX) == 0)
        defer { flock(lock, LOCK_UN); close(lock) }
        let http = GroupCommitTests.client(connections: names.count)
        let outcomes = await withTaskGroup(of: (String, Int).self) { group in
            for name in names {
                group.addTask {
                    let status = try? await GroupCommitTests.patch(http, port: port, token: token, name: name, value: "after-\(name)").0
                    return (name, status ?? -1)   // -1: not answered (connection refused or closed)
                }
            }
            // Every request reached the server's writer (which waits for the lock); then SIGTERM.
            let deadline = ContinuousClock.now + .seconds(60)
            while server.stderr.components(separatedBy: "write queued").count - 1 < names.count, ContinuousClock.now < deadline {
                try? await Task.sleep(for: .milliseconds(20))
            }
            server.process.terminate()
            try? await Task.sleep(for: .milliseconds(300))
            #expect(server.process.isRunning, "the server exited with writes in flight")
            flock(lock, LOCK_UN)
            return await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
        try await http.shutdown()
        server.process.waitUntilExit()
        #expect(server.process.terminationStatus == 0, "\(server.stderr)")
        let answered = outcomes.filter { $0.value == 200 }.map(\.key)
        #expect(answered.count == names.count, "every request was in flight at SIGTERM and must be answered: \(outcomes)")
        for name in names {
            let value = try fixture.value(name)
            if answered.contains(name) { #expect(value == "after-\(name)", "answered 200 but not committed: \(name)") }
            #expect(value == "after-\(name)" || value == "before-\(name)")
        }
        #expect(try fixture.git("fsck", "--strict").status == 0)
        #expect(try fixture.git("status", "--porcelain").stdout.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: fixture.repo + "/.git/index.lock"))
    }

    /// Rounds of 50 API PATCHes, each answered before the next, while `git commit` of an unrelated file
    /// runs in a loop in the same work tree with the hooks installed; then the user's next
    /// `git commit`: every value answered 200 is still there (the server's writes hold git's
    /// index.lock across the branch move, and the pre-commit hook restages a store file that a
    /// racing plain `git commit` put back).
    @Test func patchesRacingGitCommitAreNeverReverted() async throws {
        let fixture = try APIFixture()
        let names = (0..<50).map { "RACE_\($0)" }
        try fixture.seed(names.map { ($0, "old-\($0)") })
        let agent = try agentBinaryPath()
        let path = URL(fileURLWithPath: agent).deletingLastPathComponent().path + ":"
            + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        let identity = ["AGENT_IDENTITY_FILE": fixture.identitySource.environmentFile ?? "", "PATH": path]
        let installed = try runProcess(agent, ["hooks", "install"], cwd: fixture.repo, environment: identity)
        #expect(installed.status == 0, "\(installed.stderr)")
        try "start\n".write(toFile: fixture.repo + "/notes.txt", atomically: true, encoding: .utf8)
        #expect(try fixture.git("add", "notes.txt").status == 0)
        #expect(try runProcess("/usr/bin/git", ["-C", fixture.repo, "commit", "-qm", "notes"], environment: identity).status == 0)
        let token = try fixture.token([.write])
        let server = try Server(fixture, ["--listen", "127.0.0.1:0", "--rate-limit", "0"])
        let port = try #require(Int(server.address.split(separator: ":").last ?? ""), "\(server.stderr)")
        let stop = fixture.root + "/stop"
        // git refuses while the server holds index.lock: retry, as a script would.
        let loop = Process()
        loop.executableURL = URL(fileURLWithPath: "/bin/sh")
        loop.arguments = ["-c", """
            i=0
            while [ ! -e "$STOP" ]; do
              echo "line $i" >> notes.txt
              git add notes.txt 2>/dev/null && git commit -qm "note $i" 2>/dev/null
              i=$((i + 1))
            done
            """]
        loop.currentDirectoryURL = URL(fileURLWithPath: fixture.repo)
        loop.environment = ProcessInfo.processInfo.environment.merging(identity.merging(["STOP": stop]) { $1 }) { $1 }
        loop.standardOutput = FileHandle.nullDevice
        loop.standardError = FileHandle.nullDevice
        try loop.run()
        func notes() throws -> Int {
            try fixture.git("log", "--format=%s").stdout.split(separator: "\n").filter { $0.hasPrefix("note ") }.count
        }
        _ = try await waitUntil { try notes() > 0 }
        let notesBefore = try notes()
        #expect(notesBefore > 0, "the git commit loop never committed")
        let http = GroupCommitTests.client(connections: 1)
        // Rounds of 50 PATCHes until git has committed in between (on a busy machine one round
        // can finish before the loop's next commit); each name keeps the last value answered 200.
        var committed: [String: String] = [:]
        var attempts = 0, refusals = 0, round = 0
        repeat {
            round += 1
            for name in names {
                let value = "new\(round)-\(name)"
                let (status, body) = try await GroupCommitTests.patch(http, port: port, token: token, name: name, value: value)
                attempts += 1
                if status == 200 { committed[name] = value } else { refusals += 1; #expect(status == 423, "\(status) \(body)") }
            }
        } while try notes() == notesBefore && round < 20
        try await http.shutdown()
        _ = FileManager.default.createFile(atPath: stop, contents: nil)
        loop.waitUntilExit()
        #expect(server.terminate() == 0, "\(server.stderr)")
        #expect(refusals <= attempts / 10, "most writes should get the lock: \(refusals) of \(attempts) refused")
        #expect(try notes() > notesBefore, "git committed while the writes ran")
        // The user's next commit, as after any work.
        try "final\n".write(toFile: fixture.repo + "/notes.txt", atomically: true, encoding: .utf8)
        let final = try runProcess("/usr/bin/git", ["-C", fixture.repo, "commit", "-qam", "final"], environment: identity)
        #expect(final.status == 0, "\(final.stderr)")
        #expect(!committed.isEmpty)
        let reverted = try committed.filter { try fixture.value($0.key) != $0.value }.map(\.key).sorted()
        #expect(reverted.isEmpty, "answered 200, then reverted: \(reverted)")
        #expect(try fixture.git("status", "--porcelain").stdout.isEmpty)
        #expect(try fixture.git("fsck", "--strict", "--no-dangling").status == 0)
    }

    @Test func nonLoopbackNeedsAllowRemote() async throws {
        let fixture = try APIFixture()
        let agent = try agentBinaryPath()
        let refused = try runProcess(agent, ["serve", "--store", fixture.repo, "--state-dir", fixture.stateDirectory, "--listen", "0.0.0.0:0"],
                                     environment: ["AGENT_IDENTITY_FILE": fixture.identitySource.environmentFile!])
        #expect(refused.status == 64 && refused.stderr.contains("--allow-remote"), "\(refused.stderr)")
        let server = try Server(fixture, ["--listen", "0.0.0.0:0", "--allow-remote"])
        #expect(server.stderr.contains("TLS must come from a reverse proxy"))
        #expect(server.address.hasPrefix("http://0.0.0.0:"))
        #expect(server.terminate() == 0)
    }

    @Test func tokensCommands() throws {
        let fixture = try APIFixture()
        let agent = try agentBinaryPath()
        let state = fixture.root + "/fresh-state"
        func tokens(_ args: String...) throws -> ProcessResult {
            try runProcess(agent, ["tokens"] + args + ["--store", fixture.repo, "--state-dir", state])
        }
        let created = try tokens("create", "--scope", "read", "--scope", "reveal", "--env", "dev", "--ttl", "30d", "--label", "ci", "--json")
        #expect(created.status == 0, "\(created.stderr)")
        let row = try #require(try JSONSerialization.jsonObject(with: Data(created.stdout.utf8)) as? [String: Any])
        let token = try #require(row["token"] as? String)
        #expect(token.hasPrefix("agt_") && token.count > 50)
        #expect(row["scopes"] as? [String] == ["read", "reveal"] && row["environments"] as? [String] == ["dev"])
        let expires = try #require(row["expires_at"] as? String)
        #expect(expires.hasPrefix(Timestamp.format(Int64(Date().timeIntervalSince1970) + 30 * 86400).prefix(13)))
        // Only a salted hash is kept, 0600 in a 0700 folder.
        #expect(FileIO.mode(state) == 0o700 && FileIO.mode(state + "/tokens.json") == 0o600)
        let file = try String(contentsOfFile: state + "/tokens.json", encoding: .utf8)
        let secret = String(token.split(separator: "_", maxSplits: 2)[2])
        #expect(!file.contains(secret) && file.contains("\"hash\""))
        // Plain output prints the token once on stdout.
        let plain = try tokens("create", "--scope", "write")
        #expect(plain.stdout.hasPrefix("agt_") && plain.stdout.split(separator: "\n").count == 1)
        let listed = try tokens("list", "--json")
        #expect(listed.stdout.contains(row["id"] as! String) && !listed.stdout.contains(secret) && !listed.stdout.contains("hash"))
        #expect(try tokens("revoke", row["id"] as! String).status == 0)
        #expect(!(try tokens("list", "--json").stdout.contains(row["id"] as! String)))
        let again = try tokens("revoke", row["id"] as! String, "--json")
        #expect(again.status == 5 && again.stderr.contains("\"type\":\"not_found\""))
        #expect(try tokens("create", "--scope", "admin").status == 64)
        #expect(try tokens("create", "--scope", "read", "--ttl", "soon").status == 64)
        // A state folder open to others is refused.
        chmod(state, 0o755)
        let exposed = try tokens("list")
        #expect(exposed.status != 0 && exposed.stderr.contains("open to other users"))
    }
}

/// A value shared between tasks.
final class Shared<Value: Sendable>: Sendable {
    let value: Mutex<Value>
    init(_ initial: Value) { value = Mutex(initial) }
}
