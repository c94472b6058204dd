import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Binds the TCP socket `fd` to 127.0.0.1 on a port the kernel picks; returns that port.
public func bindToLoopback(_ fd: Int32) throws -> Int {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, length) }
    }
    guard bound == 0 else { throw POSIXError(.EADDRINUSE) }
    withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = getsockname(fd, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// A TCP listener on 127.0.0.1 that accepts connections and never writes a byte; accepted
/// connections stay open (and silent) until it hangs up or is released. The remote of the
/// timeout tests: a git://, ssh:// (no banner) or http:// server that never answers.
public final class SilentPeer: Sendable {
    public let port: Int
    private let socket: Int32
    private let acceptedCount = Counter()

    /// Connections accepted so far: a test waits for its client to have connected.
    public var accepted: Int { acceptedCount.value.withLock { $0 } }

    private final class Counter: Sendable { let value = Mutex(0) }

    public init() throws {
        let fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        port = try bindToLoopback(fd)
        guard listen(fd, 16) == 0 else { throw POSIXError(.EADDRINUSE) }
        socket = fd
        let acceptedCount = self.acceptedCount
        Thread.detachNewThread {
            var clients: [Int32] = []
            while true {
                let client = accept(fd, nil, nil)
                if client < 0 { break }
                clients.append(client)
                acceptedCount.value.withLock { $0 += 1 }
            }
            clients.forEach { close($0) }
        }
    }

    deinit {
        hangUp()
        close(socket)
    }

    /// Stops listening and closes every accepted connection (their readers see the end).
    public func hangUp() { shutdown(socket, Int32(SHUT_RDWR)) }

    /// Its URL for a network transport (ssh: a server that never sends its banner).
    public func url(_ transport: String) -> String {
        transport == "ssh" ? "ssh://git@127.0.0.1:\(port)/repo.git" : "\(transport)://127.0.0.1:\(port)/repo.git"
    }
}
