import CSodium

/// Bytes that must not outlive their use (keys, plaintext values): wiped with `sodium_memzero`
/// when the last reference goes away. The storage is private: code outside `Crypto/` reads the
/// bytes through a `Span` that cannot outlive the call, compares them in constant time, or
/// appends them to a buffer it owns (and wipes); nothing hands out the array itself.
public final class SecretBytes: @unchecked Sendable {
    // Never resized after init, so the storage address is stable and fully wiped in deinit.
    private var storage: [UInt8]

    /// Takes `bytes` over; the caller drops (or wipes) its own copy.
    public init(_ bytes: [UInt8]) { storage = bytes }

    public init(count: Int) { storage = [UInt8](repeating: 0, count: count) }

    public var count: Int { storage.count }

    public var isEmpty: Bool { storage.isEmpty }

    /// The bytes for the duration of `body`; the span cannot escape it.
    public func withBytes<R, E: Error>(_ body: (Span<UInt8>) throws(E) -> R) throws(E) -> R {
        let bytes = storage // a reference to the same buffer, not a copy
        return try body(bytes.span)
    }

    /// Constant-time equality (`sodium_memcmp`); different lengths are unequal.
    public func matches(_ other: SecretBytes) -> Bool { Crypto.equal(storage, other.storage) }

    /// Constant-time equality with plain bytes (a test vector, a decoded key).
    public func matches(_ bytes: [UInt8]) -> Bool { Crypto.equal(storage, bytes) }

    /// Byte order, then length (for sorting and deduplicating values; not constant-time).
    public func lexicographicallyPrecedes(_ other: SecretBytes) -> Bool { storage.lexicographicallyPrecedes(other.storage) }

    /// Appends the bytes to `out`, which the caller owns and wipes.
    public func append(to out: inout [UInt8]) { out.append(contentsOf: storage) }

    /// The bytes as UTF-8 text. The returned `String` is a copy the caller should drop quickly.
    public var utf8String: String { String(decoding: storage, as: UTF8.self) }

    /// The C boundaries (Crypto/, System/) pass the bytes to libsodium and libc.
    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try storage.withUnsafeBytes(body)
    }

    func withUnsafeMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        try storage.withUnsafeMutableBytes(body)
    }

    /// A sub-range as a new secret (the value format splits a digest from the value).
    func extracting(_ range: Range<Int>) -> SecretBytes { SecretBytes(Array(storage[range])) }

    deinit {
        storage.withUnsafeMutableBytes { raw in
            if let base = raw.baseAddress { sodium_memzero(base, raw.count) }
        }
    }
}
