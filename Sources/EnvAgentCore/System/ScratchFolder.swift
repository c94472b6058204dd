#if canImport(Glibc)
import Glibc
#endif

/// A fresh 0700 folder for a file holding values in clear (`agent edit`), on a RAM-backed file
/// system when there is one ($XDG_RUNTIME_DIR, else /dev/shm), else in $TMPDIR or /tmp. `wipe`
/// overwrites every file in it with zeros, then removes them and the folder; the editor's own
/// side files (swap files, backups) are in the folder too and go the same way.
public final class ScratchFolder {
    public let path: String
    private var wiped = false

    public init() throws {
        var candidates: [String] = []
        if let runtime = FileIO.environment("XDG_RUNTIME_DIR"), runtime.hasPrefix("/") { candidates.append(runtime) }
        candidates.append("/dev/shm")
        candidates.append(FileIO.environment("TMPDIR").flatMap { $0.hasPrefix("/") ? $0 : nil } ?? "/tmp")
        for base in candidates where FileIO.isDirectory(base) && access(base, W_OK | X_OK) == 0 {
            var template = Array("\(base)/agent-edit.XXXXXX".utf8CString)
            let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) } // mkdtemp makes it 0700
            if made != nil {
                path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                chmod(path, 0o700)
                return
            }
        }
        throw AgentError(.internalError, "cannot create a private temporary folder for the editor (tried \(candidates.joined(separator: ", ")))")
    }

    deinit { wipe() }

    /// Creates `name` in the folder with mode 0600 (whatever the umask) holding `bytes`.
    public func create(_ name: String, bytes: SecretBytes) throws -> String {
        let file = "\(path)/\(name)"
        let fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw AgentError(.internalError, "cannot create \(file): \(FileIO.errnoMessage())") }
        defer { close(fd) }
        fchmod(fd, 0o600)
        try bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw AgentError(.internalError, "cannot write \(file): \(FileIO.errnoMessage())")
                }
                offset += n
            }
        }
        return file
    }

    /// Overwrites every regular file of the folder with zeros (synced), removes it, then the
    /// folder.
    public func wipe() {
        guard !wiped else { return }
        wiped = true
        for entry in FileIO.directoryEntries(path) where entry != "." && entry != ".." {
            let file = "\(path)/\(entry)"
            let fd = open(file, O_WRONLY | O_NOFOLLOW | O_CLOEXEC)
            if fd >= 0 {
                var info = stat()
                if fstat(fd, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG {
                    let zeros = [UInt8](repeating: 0, count: 64 * 1024)
                    var left = Int(info.st_size)
                    while left > 0 {
                        let n = zeros.withUnsafeBytes { Glibc.write(fd, $0.baseAddress!, min(left, $0.count)) }
                        if n <= 0 { if n < 0 && errno == EINTR { continue } else { break } }
                        left -= n
                    }
                    fsync(fd)
                }
                close(fd)
            }
            unlink(file)
        }
        rmdir(path)
    }
}
