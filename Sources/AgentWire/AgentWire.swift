import CAgentSocket
#if canImport(Glibc)
import Glibc
#endif

/// The protocol between the `agent` command (a thin client) and the resident agent (`agent
/// start`): frames on a Unix socket. Each frame is one kind byte, a 4-byte little-endian length
/// and the payload. The client's first frame is `.run`, sent with its standard input, output and
/// error attached (SCM_RIGHTS), or one of the control frames; the agent answers with exactly one
/// closing frame (`.exited`, `.signalled`, `.exec` or `.text`), so end of stream before it means
/// the agent went away mid-request.
public enum WireFrame: UInt8, Sendable {
    // client → agent
    case run = 0x52          // "R": strings [cwd, umask, argc, argv…, envc, env…]; fds 0, 1, 2 (, /dev/tty)
    case cancel = 0x43       // "C": Int32 signal the client received; the request is stopped with it
    case ping = 0x50         // "P": answered with .text "ok"
    case status = 0x53       // "S": answered with .text, `agent status`'s lines
    case stop = 0x51         // "Q": the agent wipes its key, removes its socket and exits; .text
    // agent → client
    case exited = 0x58       // "X": Int32 exit status of the command
    case signalled = 0x4B    // "K": Int32 signal that ended the command
    case exec = 0x45         // "E": strings [argc, argv…, envc, env…]: the client execs (agent run)
    case text = 0x54         // "T": UTF-8 text
}

/// The stable type and exit code of "the resident agent went away mid-request": the same as
/// `AgentError.Kind.agentUnavailable` in EnvAgentCore (which this module cannot import; a test
/// checks they agree).
public enum AgentUnavailable {
    public static let type = "agent_unavailable"
    public static let exitCode: Int32 = 15
    public static let httpStatus = 503
}

/// Where the resident agent listens: `$AGENT_SOCK`, else `$XDG_RUNTIME_DIR/envagent/agent.sock`,
/// else `/tmp/envagent-UID/agent.sock`. The folder is the user's own, mode 0700.
public enum AgentSocketPath {
    public static func resolve() -> String {
        if let path = environment("AGENT_SOCK"), !path.isEmpty { return path }
        if let runtime = environment("XDG_RUNTIME_DIR"), !runtime.isEmpty { return runtime + "/envagent/agent.sock" }
        return "/tmp/envagent-\(getuid())/agent.sock"
    }

    public static func environment(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }

    /// Whether `folder` is safe to hold the socket: a directory owned by this user that nobody
    /// else can enter (as ssh-agent's folder).
    public static func isPrivateFolder(_ folder: String) -> Bool {
        var info = stat()
        guard lstat(folder, &info) == 0 else { return false }
        return info.st_mode & S_IFMT == S_IFDIR && info.st_uid == getuid() && info.st_mode & 0o077 == 0
    }

    public static func folder(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}

/// `connect` and `bind` on a Unix socket path (the resident agent's, `agent serve --socket`):
/// the `sockaddr_un` casts in one place.
public enum UnixSocket {
    /// `connect(2)`'s result, nil when the path is too long for a socket address.
    public static func connect(_ fd: Int32, to path: String) -> Int32? {
        withAddress(path) { Glibc.connect(fd, $0, $1) }
    }

    /// `bind(2)`'s result, nil when the path is too long for a socket address.
    public static func bind(_ fd: Int32, to path: String) -> Int32? {
        withAddress(path) { Glibc.bind(fd, $0, $1) }
    }

    private static func withAddress(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> Int32) -> Int32? {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return nil }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }
}

/// One end of a connection: blocking frame reads and writes that retry on EINTR.
public struct WireConnection: Sendable {
    public let fd: Int32

    public init(fd: Int32) { self.fd = fd }

    /// Connects to the agent at `path`, or nil when none answers there (no socket, a stale one,
    /// a folder that is not private, or an agent of another user).
    public static func connect(to path: String) -> WireConnection? {
        guard AgentSocketPath.isPrivateFolder(AgentSocketPath.folder(of: path)) else { return nil }
        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        guard let rc = UnixSocket.connect(fd, to: path) else { _ = Glibc.close(fd); return nil }
        var uid: uid_t = 0, pid: pid_t = 0
        guard rc == 0, agent_socket_peer(fd, &uid, &pid) == 0, uid == getuid() else { _ = Glibc.close(fd); return nil }
        return WireConnection(fd: fd)
    }

    public func close() { _ = Glibc.close(fd) }

    /// Sends one frame, with `fds` attached to its first byte.
    @discardableResult
    public func send(_ kind: WireFrame, _ payload: [UInt8] = [], fds: [Int32] = []) -> Bool {
        var frame: [UInt8] = [kind.rawValue]
        frame.reserveCapacity(5 + payload.count)
        let length = UInt32(payload.count)
        for shift in stride(from: 0, to: 32, by: 8) { frame.append(UInt8(truncatingIfNeeded: length >> UInt32(shift))) }
        frame += payload
        var offset = 0
        if !fds.isEmpty {
            let sent = frame.withUnsafeBytes { raw in
                fds.withUnsafeBufferPointer { agent_socket_send_fds(fd, raw.baseAddress, raw.count, $0.baseAddress, Int32($0.count)) }
            }
            guard sent > 0 else { return false }
            offset = sent
        }
        while offset < frame.count {
            let sent = frame.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if sent < 0 { if errno == EINTR { continue }; return false }
            offset += sent
        }
        return true
    }

    /// Reads one frame; nil at end of stream or on an error. Descriptors sent with it are
    /// appended to `fds` (close-on-exec).
    public func receive(fds: inout [Int32]) -> (kind: UInt8, payload: [UInt8])? {
        var header = [UInt8](repeating: 0, count: 5)
        var got = 0
        while got < header.count {
            var count: Int32 = 0
            var received = [Int32](repeating: -1, count: 8)
            let n = header.withUnsafeMutableBytes { raw in
                received.withUnsafeMutableBufferPointer {
                    agent_socket_receive_fds(fd, raw.baseAddress! + got, raw.count - got, $0.baseAddress, 8, &count)
                }
            }
            fds += received.prefix(Int(count))
            guard n > 0 else { return nil }
            got += n
        }
        var length = 0
        for index in 0..<4 { length |= Int(header[1 + index]) << (8 * index) }
        guard length <= 64 << 20 else { return nil }
        var payload = [UInt8](repeating: 0, count: length)
        got = 0
        while got < length {
            let n = payload.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + got, length - got, 0) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return nil }
            got += n
        }
        return (header[0], payload)
    }

    public func receive() -> (kind: UInt8, payload: [UInt8])? {
        var fds: [Int32] = []
        defer { for fd in fds { _ = Glibc.close(fd) } }
        return receive(fds: &fds)
    }
}

/// Payload encoding: counted strings and 32-bit integers, little-endian.
public struct WireWriter {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    public mutating func int(_ value: Int32) {
        let raw = UInt32(bitPattern: value)
        for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8(truncatingIfNeeded: raw >> UInt32(shift))) }
    }

    public mutating func string(_ value: String) {
        var value = value
        value.withUTF8 { utf8 in
            int(Int32(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }

    public mutating func strings(_ values: [String]) {
        int(Int32(values.count))
        for value in values { string(value) }
    }

    /// Counted byte strings: arguments and environment entries exactly as the kernel passed them
    /// (a `String` would replace invalid UTF-8).
    public mutating func byteStrings(_ values: [[UInt8]]) {
        int(Int32(values.count))
        for value in values {
            int(Int32(value.count))
            bytes.append(contentsOf: value)
        }
    }
}

public struct WireReader {
    private let bytes: [UInt8]
    private var offset = 0

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public mutating func int() -> Int32? {
        guard offset + 4 <= bytes.count else { return nil }
        var raw: UInt32 = 0
        for index in 0..<4 { raw |= UInt32(bytes[offset + index]) << (8 * UInt32(index)) }
        offset += 4
        return Int32(bitPattern: raw)
    }

    public mutating func string() -> String? {
        guard let count = int(), count >= 0, offset + Int(count) <= bytes.count else { return nil }
        defer { offset += Int(count) }
        return String(decoding: bytes[offset..<(offset + Int(count))], as: UTF8.self)
    }

    public mutating func byteStrings() -> [[UInt8]]? {
        guard let count = int(), count >= 0, count <= 1 << 20 else { return nil }
        var values: [[UInt8]] = []
        for _ in 0..<count {
            guard let length = int(), length >= 0, offset + Int(length) <= bytes.count else { return nil }
            values.append(Array(bytes[offset..<(offset + Int(length))]))
            offset += Int(length)
        }
        return values
    }

    public mutating func strings() -> [String]? {
        guard let count = int(), count >= 0, count <= 1 << 20 else { return nil }
        var values: [String] = []
        for _ in 0..<count {
            guard let value = string() else { return nil }
            values.append(value)
        }
        return values
    }
}

/// A command for the agent to run: what the client would have run in-process, byte for byte.
public struct WireRequest: Sendable {
    public var directory: [UInt8]
    public var umask: Int32
    public var arguments: [[UInt8]]
    public var environment: [[UInt8]]

    public init(directory: [UInt8], umask: Int32, arguments: [[UInt8]], environment: [[UInt8]]) {
        self.directory = directory
        self.umask = umask
        self.arguments = arguments
        self.environment = environment
    }

    public var encoded: [UInt8] {
        var writer = WireWriter()
        writer.byteStrings([directory])
        writer.int(umask)
        writer.byteStrings(arguments)
        writer.byteStrings(environment)
        return writer.bytes
    }

    public init?(decoding payload: [UInt8]) {
        var reader = WireReader(payload)
        guard let directory = reader.byteStrings()?.first, let umask = reader.int(),
              let arguments = reader.byteStrings(), let environment = reader.byteStrings() else { return nil }
        self.init(directory: directory, umask: umask, arguments: arguments, environment: environment)
    }
}

/// The process environment as `NAME=value` entries (`environ`, which Swift 6 cannot read).
public enum ProcessEnvironment {
    public static func entries() -> [String] {
        rawEntries().map { String(decoding: $0, as: UTF8.self) }
    }

    /// The entries' bytes as they are.
    public static func rawEntries() -> [[UInt8]] {
        var values: [[UInt8]] = []
        guard var entry = agent_environment() else { return values }
        while let pointer = entry.pointee {
            values.append(CString.bytes(pointer))
            entry += 1
        }
        return values
    }
}

/// The bytes of a C string, and the process's own arguments as the kernel passed them.
public enum CString {
    public static func bytes(_ pointer: UnsafePointer<CChar>) -> [UInt8] {
        Array(UnsafeRawBufferPointer(start: pointer, count: strlen(pointer)))
    }

    public static func arguments() -> [[UInt8]] {
        (0..<Int(CommandLine.argc)).compactMap { CommandLine.unsafeArgv[$0].map { bytes($0) } }
    }

    /// NUL-terminated copies for `exec`, leaked on purpose (the process is replaced).
    public static func copies(_ values: [[UInt8]]) -> [UnsafeMutablePointer<CChar>?] {
        values.map { value in
            let copy = UnsafeMutablePointer<CChar>.allocate(capacity: value.count + 1)
            for (index, byte) in value.enumerated() { copy[index] = CChar(bitPattern: byte) }
            copy[value.count] = 0
            return copy
        } + [nil]
    }
}
