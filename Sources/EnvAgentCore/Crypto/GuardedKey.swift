#if canImport(Glibc)
import Glibc
#endif
import CSodium


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
