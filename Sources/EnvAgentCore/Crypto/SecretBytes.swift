import CSodium

/// Bytes that must not outlive their use (keys, plaintext values): wiped with `sodium_memzero`
/// when the last reference goes away.
public final class SecretBytes: @unchecked Sendable {
    // Never resized after init, so the storage address is stable and fully wiped in deinit.
    public private(set) var bytes: [UInt8]

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public init(count: Int) { self.bytes = [UInt8](repeating: 0, count: count) }

    public var count: Int { bytes.count }

    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try bytes.withUnsafeBytes(body)
    }

    func withUnsafeMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        try bytes.withUnsafeMutableBytes(body)
    }

    /// The bytes as UTF-8 text. The returned `String` is a copy the caller should drop quickly.
    public var utf8String: String { String(decoding: bytes, as: UTF8.self) }

    deinit {
        bytes.withUnsafeMutableBytes { raw in
            if let base = raw.baseAddress { sodium_memzero(base, raw.count) }
        }
    }
}
