#if canImport(Glibc)
import Glibc
#endif

/// libc's byte routines over spans, for the hot byte loops outside the C boundaries: `memchr`
/// splits the lines of every secrets-file read and `.env` parse, `memcmp` compares candidate
/// values in the leak scan and the masker, and a bulk copy appends a value to a rendered file,
/// where a Swift byte loop costs several times as much.
public enum Bytes {
    /// The first index at or after `start` holding `byte`, nil when none does.
    public static func firstIndex(of byte: UInt8, in bytes: Span<UInt8>, from start: Int = 0) -> Int? {
        guard start < bytes.count else { return nil }
        return bytes.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress,
                  let hit = memchr(base + start, Int32(byte), buffer.count - start) else { return nil }
            return base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
        }
    }

    public static func contains(_ byte: UInt8, in bytes: Span<UInt8>) -> Bool {
        firstIndex(of: byte, in: bytes) != nil
    }

    /// `memcmp`'s order, then the shorter first: negative, zero or positive.
    public static func compare(_ a: Span<UInt8>, _ b: Span<UInt8>) -> Int {
        let common = min(a.count, b.count)
        let order = common == 0 ? 0 : a.withUnsafeBufferPointer { x in
            b.withUnsafeBufferPointer { y in Int(memcmp(x.baseAddress!, y.baseAddress!, common)) }
        }
        return order != 0 ? order : a.count - b.count
    }

    /// Appends `bytes` to `out` in one copy.
    public static func append(_ bytes: Span<UInt8>, to out: inout [UInt8]) {
        bytes.withUnsafeBufferPointer { out.append(contentsOf: $0) }
    }
}
