import EnvAgentCore
import Foundation
import Synchronization
import TestSupport
import Testing
@testable import EnvAgentServer
#if canImport(Glibc)
import Glibc
#endif

/// Deadlines in the server: `POST /v1/sync` answers 504 at its timeout while other requests
/// are served, concurrent syncs keep their own deadlines, and connections that send nothing
/// are closed. The tests block on threads of their own rather than awaiting: with the whole
/// suite running, an awaiting test waits seconds for a thread of the concurrency pool, which
/// would show as a late answer.
@Suite("server deadlines")
struct DeadlineServerTests {
    /// One HTTP/1.1 request on a connection of its own, blocking (15 s at most): status and body.
    static func request(port: Int, _ method: String, _ path: String, token: String? = nil, json: String? = nil) throws -> (Int, String) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var limit = timeval(tv_sec: 15, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        guard connected else { throw POSIXError(.ECONNREFUSED) }
        var text = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        if let token { text += "Authorization: Bearer \(token)\r\n" }
        if let json { text += "Content-Type: application/json\r\nContent-Length: \(json.utf8.count)\r\n" }
        text += "\r\n" + (json ?? "")
        let bytes = Array(text.utf8)
        guard send(fd, bytes, bytes.count, Int32(MSG_NOSIGNAL)) == bytes.count else { throw POSIXError(.EPIPE) }
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = recv(fd, &buffer, buffer.count, 0)
            if count == 0 { break }
            guard count > 0 else { throw POSIXError(.ETIMEDOUT) }
            answer += buffer[..<count]
        }
        let response = String(decoding: answer, as: UTF8.self)
        let status = Int(response.split(separator: " ").dropFirst().first ?? "") ?? -1
        return (status, response.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n"))
    }

    @Test(arguments: ["git", "ssh", "http"])
    func syncToASilentRemoteAnswers504InTimeWhileOthersAreServed(transport: String) throws {
        let fixture = try APIFixture()
        try fixture.seed([("KEPT", "kept-value-0123456789")])
        let peer = try SilentPeer()
        #expect(try fixture.git("remote", "add", "origin", peer.url(transport)).status == 0)
        let token = try fixture.token([.read, .write])
        let server = try ServeProcessTests.Server(fixture, ["--listen", "127.0.0.1:0", "--rate-limit", "0", "--sync-timeout", "2"])
        defer { server.stop() }
        let port = try #require(Int(server.address.split(separator: ":").last ?? ""), "\(server.stderr)")
        let started = ContinuousClock.now
        let sync = Shared<(Int, String, ContinuousClock.Instant)?>(nil)
        let syncDone = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            let answer = (try? Self.request(port: port, "POST", "/v1/sync", token: token)) ?? (-1, "no answer")
            sync.value.withLock { $0 = (answer.0, answer.1, ContinuousClock.now) }
            syncDone.signal()
        }
        #expect(eventually { peer.accepted >= 1 }, "the sync never reached its remote")
        // While the sync waits for its remote: a read and a write are answered before it.
        let read = try Self.request(port: port, "GET", "/v1/environments/dev/secrets", token: token)
        let written = try Self.request(port: port, "PATCH", "/v1/environments/dev/secrets/KEPT", token: token,
                                       json: #"{"value":"written-meanwhile-01"}"#)
        let served = ContinuousClock.now
        #expect(read.0 == 200 && written.0 == 200, "\(read) \(written)")
        #expect(syncDone.wait(timeout: .now() + 20) == .success)
        let (status, body, answered) = try #require(sync.value.withLock { $0 })
        #expect(served < answered, "other requests waited for the sync: served \(served - started), sync \(answered - started)")
        let elapsed = answered - started
        #expect(status == 504 && body.contains("gateway_timeout") && body.contains("did not answer within 2 s"), "\(transport): \(body)")
        #expect(elapsed >= .milliseconds(1900) && elapsed < .seconds(5), "\(transport): \(elapsed)")
    }

    /// Two syncs at once in one process, to different silent remotes with different timeouts,
    /// and a third to a healthy remote, each with its own repository handle as the server gives
    /// them: each ends at its own deadline (a process-wide alarm would end both at one of
    /// them), and the healthy one is not held up.
    @Test func concurrentSyncsKeepTheirOwnDeadlines() throws {
        let fixture = try APIFixture()
        try fixture.seed([("SHARED", "shared-value-0123456789")])
        let short = try SilentPeer(), long = try SilentPeer()
        let healthy = fixture.root + "/healthy.git"
        #expect(try runProcess("/usr/bin/git", ["init", "-q", "--bare", healthy]).status == 0)
        #expect(try fixture.git("remote", "add", "short", short.url("ssh")).status == 0)
        #expect(try fixture.git("remote", "add", "long", long.url("git")).status == 0)
        #expect(try fixture.git("remote", "add", "healthy", healthy).status == 0)
        let outcomes = Shared<[String: (Duration, AgentError.Kind?)]>([:])
        let finished = DispatchGroup()
        for (remote, timeout, delay) in [("short", 2, 0.0), ("long", 5, 0.0), ("healthy", 5, 0.3)] {
            finished.enter()
            Thread.detachNewThread {
                Thread.sleep(forTimeInterval: delay)
                let started = ContinuousClock.now
                var kind: AgentError.Kind?
                do {
                    _ = try fixture.operations.sync(remote: remote, options: TransferOptions(timeoutSeconds: timeout))
                } catch {
                    kind = (error as? AgentError)?.kind ?? .internalError
                }
                outcomes.value.withLock { $0[remote] = (ContinuousClock.now - started, kind) }
                finished.leave()
            }
        }
        // Bounded if a deadline fails: hung up, the peers end the syncs waiting for them.
        if finished.wait(timeout: .now() + 15) == .timedOut {
            short.hangUp()
            long.hangUp()
            _ = finished.wait(timeout: .now() + 15)
        }
        let results = outcomes.value.withLock { $0 }
        let shortResult = try #require(results["short"]), longResult = try #require(results["long"])
        let healthyResult = try #require(results["healthy"])
        #expect(shortResult.1 == .gatewayTimeout && shortResult.0 >= .milliseconds(1900) && shortResult.0 < .milliseconds(3500), "\(shortResult)")
        #expect(longResult.1 == .gatewayTimeout && longResult.0 >= .milliseconds(4900) && longResult.0 < .milliseconds(6500), "\(longResult)")
        #expect(healthyResult.1 == nil && healthyResult.0 < .seconds(2), "\(healthyResult)")
    }

    /// Connections that send nothing, or half a request, are closed after the idle timeout;
    /// meanwhile and afterwards the server answers a normal request.
    @Test func idleAndHalfSentConnectionsAreClosed() throws {
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
        let during = try Self.request(port: port, "GET", "/healthz")
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
        let after = try Self.request(port: port, "GET", "/healthz")
        #expect(after.0 == 200, "\(after)")
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
