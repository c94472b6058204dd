#if canImport(Glibc)
import Glibc
#endif

/// git's lock files (`index.lock`, `refs/heads/<branch>.lock`): whoever creates one exclusively
/// may replace the file it guards; everyone else waits or fails. git holds them for
/// milliseconds, so one that stays the same for `patience` was left by a crash (or by a git
/// command waiting for an editor): it is reported at once, by name, as git does.
public enum GitLockFile {
    /// How long one lock file (same inode and mtime) may stay before it is called stale. A
    /// lock that keeps changing belongs to git processes that come and go: waited for, up to
    /// `longestWait`.
    static let patience = Duration.milliseconds(500)
    static let longestWait = Duration.seconds(10)

    /// `locked`, naming the lock file and what to do (git's own advice).
    public static func heldError(_ path: String) -> AgentError {
        AgentError(.locked, "\(path) exists: another git process seems to be running in this repository",
                   details: [.init(loc: ["lock"], msg: path, type: "locked")],
                   hint: "if a git command is waiting (an editor opened by `git commit`), finish it; if no git process is running, one crashed: remove the file (rm '\(path)') and try again")
    }

    /// Returns once `path` is gone; throws `locked` when it stays unchanged for `patience`.
    static func waitForRelease(_ path: String) throws {
        var watch = Watch()
        while let identity = identity(of: path) {
            try watch.wait(seeing: identity, path)
        }
    }

    /// Creates `path` exclusively (O_CREAT|O_EXCL, like git) holding `record`, waiting while a git
    /// process holds it. An existing lock is passed to `recoverAbandoned` (with its content)
    /// first: when that returns true it has dealt with the lock's leftovers and the lock is
    /// removed and taken.
    static func acquire(_ path: String, record: [UInt8], recoverAbandoned: ([UInt8]) throws -> Bool) throws {
        var watch = Watch()
        while true {
            let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            if fd >= 0 {
                defer { close(fd) }
                let written = record.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
                guard written == record.count else {
                    let message = FileIO.errnoMessage()
                    unlink(path)
                    throw AgentError.internal("cannot write \(path): \(message)")
                }
                return
            }
            guard errno == EEXIST else { throw AgentError.internal("cannot create \(path): \(FileIO.errnoMessage())") }
            guard let identity = identity(of: path) else { continue } // released meanwhile
            if watch.isFirstLook(at: identity), let content = try? FileIO.read(path, upTo: 64 * 1024),
               try recoverAbandoned(content) {
                unlink(path)
                continue
            }
            try watch.wait(seeing: identity, path)
        }
    }

    /// Removes a lock this process holds.
    static func release(_ path: String) {
        unlink(path)
    }

    private struct Identity: Equatable {
        var inode: UInt
        var modified: timespec

        static func == (lhs: Identity, rhs: Identity) -> Bool {
            lhs.inode == rhs.inode && lhs.modified.tv_sec == rhs.modified.tv_sec && lhs.modified.tv_nsec == rhs.modified.tv_nsec
        }
    }

    private static func identity(of path: String) -> Identity? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        return Identity(inode: UInt(st.st_ino), modified: st.st_mtim)
    }

    /// Times one lock file: the patience restarts whenever the lock is another file.
    private struct Watch {
        let start = ContinuousClock.now
        var current: Identity?
        var since = ContinuousClock.now
        var delay: UInt32 = 1_000

        func isFirstLook(at identity: Identity) -> Bool { identity != current }

        mutating func wait(seeing identity: Identity, _ path: String) throws {
            let now = ContinuousClock.now
            if identity != current {
                current = identity
                since = now
            } else if now - since >= GitLockFile.patience || now - start >= GitLockFile.longestWait {
                throw GitLockFile.heldError(path)
            }
            usleep(delay)
            delay = min(delay * 2, 20_000)
        }
    }
}

/// Who holds a lock file that EnvAgent created, written into it: enough to prove later that the
/// holder died (same boot, and its pid is gone or is another process now) and which paths it was
/// writing. git never reads a lock file's content, only its existence.
struct LockOwner: Equatable {
    static let magic = "envagent-lock 1"

    var pid: Int32
    var bootID: String
    /// The process's start time in clock ticks since boot (`/proc/PID/stat` field 22), which a
    /// recycled pid does not share.
    var startTime: String
    var paths: [String]

    static func current(paths: [String]) -> LockOwner {
        let pid = getpid()
        return LockOwner(pid: pid, bootID: bootID() ?? "", startTime: startTime(of: pid) ?? "", paths: paths)
    }

    var encoded: [UInt8] {
        Array(([Self.magic, "pid \(pid)", "boot \(bootID)", "start \(startTime)"] + paths.map { "path \($0)" })
            .joined(separator: "\n").utf8) + [10]
    }

    init(pid: Int32, bootID: String, startTime: String, paths: [String]) {
        (self.pid, self.bootID, self.startTime, self.paths) = (pid, bootID, startTime, paths)
    }

    /// nil for anything EnvAgent did not write (git's own locks are empty or hold an index).
    init?(parsing bytes: [UInt8]) {
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.first == Substring(Self.magic) else { return nil }
        var pid: Int32?, boot: String?, start: String?, paths: [String] = []
        for line in lines.dropFirst() where !line.isEmpty {
            guard let space = line.firstIndex(of: " ") else { return nil }
            let value = String(line[line.index(after: space)...])
            switch line[..<space] {
            case "pid": pid = Int32(value)
            case "boot": boot = value
            case "start": start = value
            case "path": paths.append(value)
            default: return nil
            }
        }
        guard let pid, let boot, let start, !boot.isEmpty, !start.isEmpty else { return nil }
        self.init(pid: pid, bootID: boot, startTime: start, paths: paths)
    }

    /// Whether the holder provably died: another boot, or no process with its pid and start time.
    var hasDied: Bool {
        guard let boot = Self.bootID() else { return false }
        if boot != bootID { return true }
        guard pid != getpid() else { return false }
        return Self.startTime(of: pid) != startTime
    }

    private static func bootID() -> String? {
        guard let bytes = try? FileIO.read("/proc/sys/kernel/random/boot_id", upTo: 64) else { return nil }
        let text = String(decoding: bytes, as: UTF8.self).filter { !$0.isWhitespace }
        return text.isEmpty ? nil : text
    }

    private static func startTime(of pid: Int32) -> String? {
        guard let bytes = try? FileIO.read("/proc/\(pid)/stat", upTo: 4096),
              let close = bytes.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        // Fields after the command name start at field 3 (state); the start time is field 22.
        let fields = bytes[(close + 1)...].split(separator: UInt8(ascii: " "))
        guard fields.count > 19 else { return nil }
        return String(decoding: fields[19], as: UTF8.self)
    }
}
