import AsyncHTTPClient
import EnvAgentCore
import Foundation
import HummingbirdTesting
import NIOCore
import NIOPosix
import TestSupport
import Testing
@testable import EnvAgentServer

@Suite("Group commit: concurrent writes share commits and lose nothing")
struct GroupCommitTests {
    static func client(connections: Int) -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: connections)
        return HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: configuration)
    }

    static func patch(_ http: HTTPClient, port: Int, token: String, name: String, value: String) async throws -> (Int, String) {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/v1/environments/dev/secrets/\(name)")
        request.method = .PATCH
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: #"{"value":"\#(value)"}"#))
        let response = try await http.execute(request, timeout: .seconds(60))
        let body = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), String(buffer: body))
    }

    /// Deterministic: the test holds the store's write lock, so the writer's first commit waits
    /// while the other requests queue; released, the queued ones go out as ONE commit.
    @Test func queuedUpdatesShareOneCommit() async throws {
        let fixture = try APIFixture()
        let names = (0..<8).map { "SECRET_\($0)" }
        try fixture.seed(names.map { ($0, "initial-value-\($0)") })
        let token = try fixture.token([.write])
        let (server, _) = try fixture.server()
        let commitsBefore = Int(try fixture.git("rev-list", "--count", "HEAD").stdout.filter(\.isNumber))!

        let lock = open(fixture.repo + "/.git/envagent.lock", O_RDWR | O_CREAT, 0o600)
        #expect(lock >= 0 && flock(lock, LOCK_EX) == 0)
        defer { flock(lock, LOCK_UN); close(lock) }   // also on a failed expectation

        let writer = server.access.writer
        try await server.application.test(.live) { client in
            let port = try #require(client.port)
            let http = Self.client(connections: names.count)
            let results = try await withThrowingTaskGroup(of: (Int, String).self) { group in
                for name in names {
                    group.addTask { try await Self.patch(http, port: port, token: token, name: name, value: "batched-\(name)") }
                }
                // Every request reached the writer (the first batch is blocked on the lock)…
                _ = await waitUntil { writer.outstanding.queued + writer.outstanding.writing >= names.count }
                #expect(writer.outstanding.queued + writer.outstanding.writing == names.count)
                // …and none has been answered: nothing is committed yet. Released, the writer
                // commits its first batch and then everything that queued behind it.
                flock(lock, LOCK_UN)
                return try await group.reduce(into: []) { $0.append($1) }
            }
            try await http.shutdown()
            #expect(results.allSatisfy { $0.0 == 200 }, "\(results)")
        }
        let commits = Int(try fixture.git("rev-list", "--count", "HEAD").stdout.filter(\.isNumber))! - commitsBefore
        #expect(commits >= 1 && commits <= 2, "\(commits) commits for \(names.count) updates")
        let subjects = try fixture.git("log", "--format=%s", "-\(commits)").stdout
        for name in names {
            #expect(subjects.contains(name), "history does not name \(name): \(subjects)")
            #expect(try fixture.value(name) == "batched-\(name)")
        }
        #expect(subjects.split(separator: "\n").allSatisfy { $0.hasPrefix("update ") && $0.hasSuffix(" (dev)") })
        let history = try fixture.operations.history(name: "SECRET_5", environment: "dev")
        #expect(history.first?.action == "update")
    }

    /// 16 clients, each updating its own secrets over and over, while `agent update` processes
    /// write too: every secret ends with the last value written to it, and git is consistent.
    @Test func concurrentClientsLoseNoUpdate() async throws {
        let fixture = try APIFixture()
        let clients = 16, rounds = 10, perClient = 3
        let names = (0..<(clients * perClient)).map { String(format: "KEY_%03d", $0) }
        try fixture.seed((names + ["CLI_A", "CLI_B"]).map { ($0, "seed-value-\($0)") })
        let token = try fixture.token([.write])
        let (server, _) = try fixture.server()
        let agent = try agentBinaryPath()
        let last = try await server.application.test(.live) { client -> [String: String] in
            let port = try #require(client.port)
            let http = Self.client(connections: clients)
            let cli = Task.detached {
                for round in 0..<8 {
                    for name in ["CLI_A", "CLI_B"] {
                        let result = try runProcess(agent, ["update", name, "--store", fixture.repo], stdin: "cli-\(name)-\(round)",
                                                    environment: ["AGENT_IDENTITY_FILE": fixture.identitySource.environmentFile!])
                        #expect(result.status == 0, "\(result.stderr)")
                    }
                }
            }
            let last = try await withThrowingTaskGroup(of: [String: String].self) { group in
                for c in 0..<clients {
                    group.addTask {
                        var mine: [String: String] = [:]
                        for round in 0..<rounds {
                            let name = names[c * perClient + round % perClient]
                            let value = "client\(c)-round\(round)-\(UUID().uuidString.prefix(6))"
                            let (status, body) = try await Self.patch(http, port: port, token: token, name: name, value: value)
                            #expect(status == 200, "\(body)")
                            mine[name] = value
                        }
                        return mine
                    }
                }
                return try await group.reduce(into: [:]) { $0.merge($1) { a, _ in a } }
            }
            try await cli.value
            try await http.shutdown()
            return last
        }
        #expect(last.count == names.count)
        for (name, value) in last {
            #expect(try fixture.value(name) == value, "lost update on \(name)")
        }
        #expect(try fixture.value("CLI_A") == "cli-CLI_A-7" && fixture.value("CLI_B") == "cli-CLI_B-7")
        let fsck = try fixture.git("fsck", "--strict")
        #expect(fsck.status == 0, "\(fsck.stdout)\(fsck.stderr)")
        #expect(try fixture.git("status", "--porcelain").stdout.isEmpty)
        // Fewer commits than updates (group commit), and every update is named in the history.
        let subjects = try fixture.git("log", "--format=%s").stdout
        let apiCommits = subjects.split(separator: "\n").filter { $0.contains("KEY_") }
        #expect(apiCommits.count <= clients * rounds)
        for name in names { #expect(subjects.contains(name)) }
    }
}
