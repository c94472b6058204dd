import Foundation
import Testing
import TestSupport
@testable import EnvAgentCore
#if canImport(Glibc)
import Glibc
#endif

/// The socket stream every libgit2 network transport connects through (registered with
/// `git_stream_register`, see `envagent_deadline_begin`): a refused connection fails at once as
/// unreachable, a silent peer ends at the deadline, and the deadline belongs to one operation.
@Suite struct ConnectionDeadlineTests {
    static func repository(remote url: String, in dir: TempDirectory) throws -> GitRepository {
        let repository = try GitRepository.initialize(dir.file("repo"), bare: true)
        try run("/usr/bin/git", ["-C", dir.file("repo"), "remote", "add", "peer", url])
        return repository
    }

    static func fetch(_ repository: GitRepository, seconds: Int) -> (error: AgentError?, elapsed: Double) {
        let started = Deadline.now()
        do {
            try repository.fetch(remote: "peer", refspecs: ["+refs/heads/*:refs/remotes/peer/*"],
                                 options: TransferOptions(timeoutSeconds: seconds))
            return (nil, Deadline.now() - started)
        } catch {
            return (error as? AgentError, Deadline.now() - started)
        }
    }

    @Test func aRefusedConnectionIsUnreachableAtOnce() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        let port = try bindToLoopback(fd) // bound, not listening: connections are refused
        defer { close(fd) }
        let dir = TempDirectory()
        let repository = try Self.repository(remote: "git://127.0.0.1:\(port)/repo.git", in: dir)
        let (error, elapsed) = Self.fetch(repository, seconds: 5)
        #expect(error?.kind == .badGateway && error?.message.contains("is unreachable") == true, "\(String(describing: error))")
        #expect(elapsed < 2, "\(elapsed) s")
    }

    @Test(arguments: ["git", "http", "ssh"])
    func aSilentPeerEndsAtTheDeadline(transport: String) throws {
        let peer = try SilentPeer()
        let dir = TempDirectory()
        let repository = try Self.repository(remote: peer.url(transport), in: dir)
        let (error, elapsed) = Self.fetch(repository, seconds: 1)
        #expect(error?.kind == .gatewayTimeout, "\(transport): \(String(describing: error))")
        #expect(elapsed >= 0.9 && elapsed < 3, "\(transport): \(elapsed) s")
        // The next operation on this thread has a deadline of its own, not the one that passed.
        let refused = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        let port = try bindToLoopback(refused)
        defer { close(refused) }
        try run("/usr/bin/git", ["-C", dir.file("repo"), "remote", "set-url", "peer", "git://127.0.0.1:\(port)/repo.git"])
        #expect(Self.fetch(repository, seconds: 5).error?.kind == .badGateway)
    }
}
