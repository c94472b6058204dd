import AsyncHTTPClient
import EnvAgentCore
import Foundation
import Logging
import NIOCore
import NIOPosix
import TestSupport
import Testing
@testable import EnvAgentServer
#if canImport(Glibc)
import Glibc
#endif

/// A TCP listener on 127.0.0.1 that accepts connections and never writes a byte; accepted
/// connections stay open until it is released.
final class SilentPeer: Sendable {
    let port: Int
    private let socket: Int32

    init() throws {
        let fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound, listen(fd, 16) == 0 else { throw POSIXError(.EADDRINUSE) }
        socket = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread.detachNewThread {
            var clients: [Int32] = []
            while true {
                let client = accept(fd, nil, nil)
                if client < 0 { break }
                clients.append(client)
            }
            clients.forEach { close($0) }
        }
    }

    deinit {
        hangUp()
        close(socket)
    }

    /// Stops listening and closes every accepted connection (their readers see the end).
    func hangUp() { shutdown(socket, Int32(SHUT_RDWR)) }

    /// Its URL for a network transport (ssh: a server that never sends its banner).
    func url(_ transport: String) -> String {
        transport == "ssh" ? "ssh://git@127.0.0.1:\(port)/repo.git" : "\(transport)://127.0.0.1:\(port)/repo.git"
    }
}

/// Deadlines in the server: `POST /v1/sync` answers 504 at its timeout while other requests
/// are served, concurrent syncs keep their own deadlines, and connections that send nothing
/// are closed.
@Suite("server deadlines")
struct DeadlineServerTests {
    /// Runs `body` with an HTTP client that is shut down however `body` ends.
    static func withClient<R>(_ body: (HTTPClient) async throws -> R) async throws -> R {
        let http = GroupCommitTests.client(connections: 4)
        do {
            let result = try await body(http)
            try await http.shutdown()
            return result
        } catch {
            try? await http.shutdown()
            throw error
        }
    }

    /// One request on a connection of its own: a pooled one may be closed by the server's idle
    /// timeout just as it is reused.
    static func request(_ http: HTTPClient, post: Bool = false, _ url: String, token: String? = nil) async throws -> (Int, String) {
        var request = HTTPClientRequest(url: url)
        if post { request.method = .POST }
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        request.headers.add(name: "Connection", value: "close")
        let response = try await http.execute(request, timeout: .seconds(15))
        return (Int(response.status.code), String(buffer: try await response.body.collect(upTo: 1 << 20)))
    }

    @Test(arguments: ["git", "ssh", "http"])
    func syncToASilentRemoteAnswers504InTimeWhileOthersAreServed(transport: String) async throws {
        let fixture = try APIFixture()
        try fixture.seed([("KEPT", "kept-value-0123456789")])
        let peer = try SilentPeer()
        #expect(try fixture.git("remote", "add", "origin", peer.url(transport)).status == 0)
        let token = try fixture.token([.read, .write])
        let server = try ServeProcessTests.Server(fixture, ["--listen", "127.0.0.1:0", "--rate-limit", "0", "--sync-timeout", "2"])
        defer { server.stop() }
        let port = try #require(Int(server.address.split(separator: ":").last ?? ""), "\(server.stderr)")
        let base = "http://127.0.0.1:\(port)"
        try await Self.withClient { http in
            let started = ContinuousClock.now
            async let sync = { () async throws -> (Int, String, ContinuousClock.Instant) in
                let (status, body) = try await Self.request(http, post: true, base + "/v1/sync", token: token)
                return (status, body, ContinuousClock.now)
            }()
            try await Task.sleep(for: .milliseconds(300))
            // While the sync waits for its remote: a read and a write are answered before it.
            let read = try await Self.request(http, base + "/v1/environments/dev/secrets", token: token)
            let written = try await GroupCommitTests.patch(http, port: port, token: token, name: "KEPT", value: "written-meanwhile-01")
            let served = ContinuousClock.now
            #expect(read.0 == 200 && written.0 == 200, "\(read) \(written)")
            let (status, body, answered) = try await sync
            #expect(served < answered, "other requests waited for the sync: served \(served - started), sync \(answered - started)")
            let elapsed = answered - started
            #expect(status == 504 && body.contains("gateway_timeout") && body.contains("did not answer within 2 s"), "\(transport): \(body)")
            #expect(elapsed >= .milliseconds(1900) && elapsed < .seconds(5), "\(transport): \(elapsed)")
        }
    }

    /// Two syncs at once in one server, to different silent remotes with different timeouts,
    /// and a third to a healthy remote: each ends at its own deadline (a process-wide alarm
    /// would end both at one of them), and the healthy one is not held up.
    @Test func concurrentSyncsKeepTheirOwnDeadlines() async throws {
        let fixture = try APIFixture()
        try fixture.seed([("SHARED", "shared-value-0123456789")])
        let short = try SilentPeer(), long = try SilentPeer()
        let healthy = fixture.root + "/healthy.git"
        #expect(try runProcess("/usr/bin/git", ["init", "-q", "--bare", healthy]).status == 0)
        #expect(try fixture.git("remote", "add", "short", short.url("ssh")).status == 0)
        #expect(try fixture.git("remote", "add", "long", long.url("git")).status == 0)
        #expect(try fixture.git("remote", "add", "healthy", healthy).status == 0)
        let access = try StoreAccess(path: fixture.repo, identitySource: fixture.identitySource, logger: Logger(label: "test"))

        @Sendable func timedSync(_ remote: String, timeout: Int, after delay: Duration = .zero) async -> (Duration, AgentError.Kind?) {
            try? await Task.sleep(for: delay)
            let started = ContinuousClock.now
            do {
                _ = try await access.sync { try $0.sync(remote: remote, options: TransferOptions(timeoutSeconds: timeout)) }
                return (ContinuousClock.now - started, nil)
            } catch {
                return (ContinuousClock.now - started, (error as? AgentError)?.kind ?? .internalError)
            }
        }
        // Bounds the test if a deadline fails: hung up, the peers end the syncs waiting for them.
        // A thread, not a task: blocked syncs may hold every thread of the concurrency pool.
        Thread.detachNewThread {
            Thread.sleep(forTimeInterval: 15)
            short.hangUp()
            long.hangUp()
        }
        async let shortOutcome = timedSync("short", timeout: 2)
        async let longOutcome = timedSync("long", timeout: 5)
        async let healthyOutcome = timedSync("healthy", timeout: 5, after: .milliseconds(300))
        let (shortResult, longResult, healthyResult) = await (shortOutcome, longOutcome, healthyOutcome)
        #expect(shortResult.1 == .gatewayTimeout && shortResult.0 >= .milliseconds(1900) && shortResult.0 < .milliseconds(3500), "\(shortResult)")
        #expect(longResult.1 == .gatewayTimeout && longResult.0 >= .milliseconds(4900) && longResult.0 < .milliseconds(6500), "\(longResult)")
        #expect(healthyResult.1 == nil && healthyResult.0 < .seconds(2), "\(healthyResult)")
    }

    /// Connections that send nothing, or half a request, are closed after the idle timeout;
    /// meanwhile and afterwards the server answers a normal request.
    @Test func idleAndHalfSentConnectionsAreClosed() async throws {
        let fixture = try APIFixture()
        let server = try ServeProcessTests.Server(fixture, ["--listen", "127.0.0.1:0", "--idle-timeout", "1"])
        defer { server.stop() }
        let port = try #require(Int(server.address.split(separator: ":").last ?? ""), "\(server.stderr)")
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let burst = 200
        var sockets: [Int32] = []
        defer { sockets.forEach { close($0) } }
        for index in 0..<burst {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
            }
            try #require(connected, "connection \(index): \(String(cString: strerror(errno)))")
            sockets.append(fd)
            // Every other one sends the start of a request and stops.
            if index % 2 == 1 {
                let partial = index % 4 == 1 ? "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    : "PATCH /v1/environments/dev/secrets/A HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{\"va"
                _ = partial.withCString { send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
            }
        }
        let started = ContinuousClock.now
        try await Self.withClient { http in
            let during = try await Self.request(http, "http://127.0.0.1:\(port)/healthz")
            #expect(during.0 == 200, "\(during)")

            // Bounded: every burst connection must be closed by the server within 5 s.
            var open = Set(sockets)
            while !open.isEmpty, ContinuousClock.now - started < .seconds(5) {
                var polled = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
                _ = poll(&polled, nfds_t(polled.count), 100)
                for entry in polled where entry.revents != 0 {
                    var byte: UInt8 = 0
                    let read = recv(entry.fd, &byte, 1, Int32(MSG_DONTWAIT))
                    if read == 0 || (read < 0 && errno != EAGAIN) { open.remove(entry.fd) } // end of stream or reset
                }
        }
        let closedAfter = ContinuousClock.now - started
        #expect(open.isEmpty, "\(open.count) of \(burst) connections still open after \(closedAfter)")
        let after = try await Self.request(http, "http://127.0.0.1:\(port)/healthz")
        #expect(after.0 == 200, "\(after)")
        }
    }
}

extension ServeProcessTests.Server {
    /// SIGTERM, then SIGKILL if it has not exited within 5 s (a graceful shutdown waits for
    /// requests in flight, which a broken deadline would never end).
    func stop() {
        process.terminate()
        let deadline = ContinuousClock.now + .seconds(5)
        while process.isRunning, ContinuousClock.now < deadline { usleep(50_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}
