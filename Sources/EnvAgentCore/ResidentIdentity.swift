#if canImport(Glibc)
import Glibc
#endif
import CSodium
import Synchronization

/// A secret key in libsodium's guarded memory (`sodium_malloc`: guard pages, locked, never in a
/// core dump), readable only inside `withKey`; freed (wiped) by `wipe()` or at deinit. What the
/// resident agent holds for as long as it runs.
public final class GuardedKey: @unchecked Sendable {
    private var pointer: UnsafeMutableRawPointer?
    public let count: Int

    public init(copying key: SecretBytes) throws {
        _ = try Crypto.randomBytes(0) // sodium_init
        count = key.count
        guard let memory = sodium_malloc(count) else { throw AgentError.internal("sodium_malloc failed") }
        key.withUnsafeBytes { memory.copyMemory(from: $0.baseAddress!, byteCount: count) }
        sodium_mprotect_noaccess(memory)
        pointer = memory
    }

    /// A copy of the key for the duration of `body` (the copy is wiped when it is dropped).
    public func withKey<R>(_ body: (SecretBytes) throws -> R) throws -> R {
        guard let pointer else { throw AgentError(.authenticationFailed, "the resident agent's key was wiped") }
        sodium_mprotect_readonly(pointer)
        let copy = SecretBytes(Array(UnsafeRawBufferPointer(start: pointer, count: count)))
        sodium_mprotect_noaccess(pointer)
        return try body(copy)
    }

    public func wipe() {
        guard let memory = pointer else { return }
        sodium_free(memory) // unprotects, zeroes and unmaps
        pointer = nil
    }

    deinit { wipe() }
}

/// The identity the resident agent unlocked, as its forked request processes see it: a command
/// whose identity resolves to that same file (unchanged since the agent read it) uses this one
/// instead of reading — and perhaps asking a passphrase for — the file again.
public enum ResidentIdentity {
    struct Installed {
        let path: String
        let stamp: FileStamp
        let identity: Identity
    }

    private static let installed = Mutex<Installed?>(nil)

    /// Called once in a request process, before the command runs.
    public static func install(_ identity: Identity, path: String, stamp: FileStamp) {
        installed.withLock { $0 = Installed(path: path, stamp: stamp, identity: identity) }
    }

    /// The installed identity when `path` is the file it came from and that file is unchanged.
    static func matching(_ path: String) -> Identity? {
        installed.withLock { installed in
            guard let installed, installed.path == path, FileStamp(path) == installed.stamp else { return nil }
            return installed.identity
        }
    }
}

/// What identifies one version of a file without reading it: device, inode, size, change time.
public struct FileStamp: Equatable, Sendable {
    let device: UInt64, inode: UInt64, size: Int64, changed: Int, changedNanoseconds: Int

    public init?(_ path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
        size = Int64(info.st_size)
        changed = info.st_ctim.tv_sec
        changedNanoseconds = info.st_ctim.tv_nsec
    }
}
