#if canImport(Glibc)
import Glibc
#endif

/// Small POSIX file helpers: exact modes, atomic replacement, no partial files.
public enum FileIO {
    public static func errnoMessage(_ code: Int32 = errno) -> String {
        String(cString: strerror(code))
    }

    public static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    public static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// Permission bits of `path`, or nil when it does not exist.
    public static func mode(_ path: String) -> mode_t? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return st.st_mode & 0o7777
    }

    /// The user id owning `path`, or nil when it does not exist.
    public static func owner(_ path: String) -> uid_t? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return st.st_uid
    }

    /// The file's bytes, or its first `limit` bytes.
    public static func read(_ path: String, upTo limit: Int = .max) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            throw AgentError(code == ENOENT ? .notFound : .internalError,
                             "cannot read \(path): \(errnoMessage(code))")
        }
        defer { close(fd) }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while result.count < limit {
            let wanted = min(chunk.count, limit - result.count)
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, wanted) }
            if n < 0 {
                if errno == EINTR { continue }
                throw AgentError.internal("cannot read \(path): \(errnoMessage())")
            }
            if n == 0 { break }
            result.append(contentsOf: chunk[0..<n])
        }
        return result
    }

    /// The bytes of `path` when it is a regular file (never through a symlink) of at most
    /// `limit` bytes; nil otherwise.
    public static func readRegularFile(_ path: String, upTo limit: Int) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG, st.st_size <= limit else { return nil }
        return try? readAll(fd: fd)
    }

    /// Reads all of standard input (or another descriptor).
    public static func readAll(fd: Int32) throws -> [UInt8] {
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw AgentError.internal("cannot read input: \(errnoMessage())")
            }
            if n == 0 { break }
            result.append(contentsOf: chunk[0..<n])
        }
        return result
    }

    public static func makeDirectories(_ path: String, mode: mode_t) throws {
        if isDirectory(path) { return }
        let parent = dirname(path)
        if parent != path && !parent.isEmpty { try makeDirectories(parent, mode: mode) }
        if mkdir(path, mode) != 0 && errno != EEXIST {
            throw AgentError.internal("cannot create folder \(path): \(errnoMessage())")
        }
    }

    public static func dirname(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        if slash == path.startIndex { return "/" }
        return String(path[..<slash])
    }

    /// Writes `bytes` to a temp file in the same folder, fsyncs, sets `mode`, and renames it over
    /// `path`: a reader sees the old file or the new one, never a partial one.
    static func writeAtomically(_ path: String, bytes: UnsafeRawBufferPointer, mode: mode_t, sync: Bool = true) throws {
        let folder = dirname(path)
        var template = Array("\(folder)/.\(basename(path)).tmp-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw AgentError.internal("cannot write in \(folder): \(errnoMessage())") }
        let tempPath = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        var committed = false
        defer {
            if !committed { unlink(tempPath) }
        }
        do {
            defer { close(fd) }
            guard fchmod(fd, mode) == 0 else { throw AgentError.internal("cannot set mode on \(tempPath): \(errnoMessage())") }
            var offset = 0
            while offset < bytes.count {
                let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw AgentError.internal("cannot write \(path): \(errnoMessage())")
                }
                offset += n
            }
            if sync && fsync(fd) != 0 { throw AgentError.internal("cannot sync \(path): \(errnoMessage())") }
        }
        guard rename(tempPath, path) == 0 else {
            throw AgentError.internal("cannot replace \(path): \(errnoMessage())")
        }
        committed = true
    }

    public static func writeAtomically(_ path: String, bytes: [UInt8], mode: mode_t, sync: Bool = true) throws {
        try bytes.withUnsafeBytes { try writeAtomically(path, bytes: $0, mode: mode, sync: sync) }
    }

    /// `writeAtomically` of a secret (a rendered file, an identity): no copy of it is made.
    public static func writeAtomically(_ path: String, secret: SecretBytes, mode: mode_t, sync: Bool = true) throws {
        try secret.withUnsafeBytes { try writeAtomically(path, bytes: $0, mode: mode, sync: sync) }
    }

    /// `createExclusively` of a secret (an identity file): no copy of it is made.
    public static func createExclusively(_ path: String, secret: SecretBytes, mode: mode_t) throws {
        try secret.withUnsafeBytes { try createExclusively(path, bytes: $0, mode: mode) }
    }

    public static func createExclusively(_ path: String, bytes: [UInt8], mode: mode_t) throws {
        try bytes.withUnsafeBytes { try createExclusively(path, bytes: $0, mode: mode) }
    }

    /// Creates `path` exclusively with `mode`; fails `already_exists` when it is there.
    static func createExclusively(_ path: String, bytes: UnsafeRawBufferPointer, mode: mode_t) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else {
            let code = errno
            if code == EEXIST {
                throw AgentError(.alreadyExists, "\(path) already exists", hint: "remove it first, or choose another path")
            }
            throw AgentError.internal("cannot create \(path): \(errnoMessage(code))")
        }
        defer { close(fd) }
        _ = fchmod(fd, mode)
        let n = Glibc.write(fd, bytes.baseAddress, bytes.count)
        guard n == bytes.count, fsync(fd) == 0 else {
            unlink(path)
            throw AgentError.internal("cannot write \(path): \(errnoMessage())")
        }
    }

    /// Sets the process environment variable `name` to `value` (for the command `agent run`
    /// execs). setenv copies it; the NUL-terminated copy made here is wiped at once.
    public static func setEnvironment(_ name: String, to value: SecretBytes) {
        var cString: [UInt8] = []
        cString.reserveCapacity(value.count + 1)
        value.append(to: &cString)
        cString.append(0)
        defer { Crypto.wipe(&cString) }
        cString.withUnsafeBytes { raw in
            _ = setenv(name, raw.baseAddress!.assumingMemoryBound(to: CChar.self), 1)
        }
    }

    /// Reads what is available from `fd` (at most `buffer.count` bytes) into the start of
    /// `buffer`; the byte count, 0 at the end, or -1 with `errno` set.
    public static func read(fd: Int32, into buffer: inout [UInt8]) -> Int {
        buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, $0.count) }
    }

    /// Names in a folder (without `.` and `..`); empty when it cannot be read.
    public static func directoryEntries(_ path: String) -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Runs `body` holding an exclusive `flock` on `path` (created 0600), released when it
    /// returns or the process dies.
    public static func withExclusiveLock<T>(_ path: String, _ body: () throws -> T) throws -> T {
        try withExclusiveLock(path, wait: true, body)!
    }

    /// Like `withExclusiveLock`, but without waiting when `wait` is false: nil when another
    /// holder has the lock.
    public static func withExclusiveLock<T>(_ path: String, wait: Bool, _ body: () throws -> T) throws -> T? {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw AgentError.internal("cannot open \(path): \(errnoMessage())") }
        defer { close(fd) }
        while flock(fd, wait ? LOCK_EX : LOCK_EX | LOCK_NB) != 0 {
            if !wait && errno == EWOULDBLOCK { return nil }
            guard errno == EINTR else { throw AgentError.internal("cannot lock \(path): \(errnoMessage())") }
        }
        defer { flock(fd, LOCK_UN) }
        return try body()
    }

    /// Removes a file; false when it did not exist or could not be removed.
    @discardableResult
    public static func remove(_ path: String) -> Bool { unlink(path) == 0 }

    public static func basename(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }

    public static func environment(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        return String(cString: value)
    }

    /// The running executable's absolute path (`/proc/self/exe`), else argv[0].
    /// Closes every open descriptor above `lowest` but `kept` (what a daemon does once started).
    public static func closeDescriptors(above lowest: Int32, except kept: Set<Int32>) {
        let open = directoryEntries("/proc/self/fd").compactMap { Int32($0) }
        for fd in open where fd > lowest && !kept.contains(fd) { _ = close(fd) }
    }

    public static func executablePath() -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard count > 0 else { return CommandLine.arguments.first ?? "agent" }
        return String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public static func currentDirectory() -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { return "." }
        return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }
}
