/// Finds every occurrence of many byte patterns in one pass over a text: a sampled q-gram
/// filter, the multi-pattern equivalent of Rabin–Karp (the idea behind agrep's Wu–Manber and
/// Hyperscan's FDR).
///
/// Every pattern is at least `minimumLength` (4) bytes. Let `m` be the shortest pattern's length
/// and the sampling stride `s = min(4, m − 3)`. The text is only probed at positions
/// `0, s, 2s, …`, reading 4 bytes (a *gram*) at each. An occurrence starting at `p` covers
/// exactly one probe position `i` with `i − p` in `0..<s`, and `i + 4 ≤ p + m`, so the gram at `i`
/// is the pattern's gram at offset `i − p`. Registering each pattern's grams at offsets
/// `0..<s` (≤ 4 entries a pattern) therefore finds every occurrence exactly once. A probe costs
/// four byte loads, a multiply and a bit test in a 32 KiB bitmap of registered grams; only
/// bitmap hits (real matches and ~1.5 % false hits for 1,000 patterns) look the gram up and
/// compare the candidate pattern in full.
///
/// The patterns are secrets: they, their grams and the bitmap live in buffers wiped with
/// `sodium_memzero` when the search is released. The text is read through a `Span` (bounds
/// checked): about 2.4× the time of raw unaligned loads in the probe loop alone (5 ms against
/// 2 ms for 10 MB), invisible next to reading the blobs.
public final class MultiPatternSearch {
    public static let minimumLength = 4
    private static let bitmapBits = 18

    /// All patterns, concatenated.
    private var storage: [UInt8]
    private var starts: [Int]
    private var lengths: [Int]
    public let stride: Int
    /// Registered grams, sorted, with the pattern and offset each came from.
    private var grams: [UInt32]
    private var gramPatterns: [Int32]
    private var gramOffsets: [Int32]
    private var bitmap: [UInt64]

    public var patternCount: Int { starts.count }

    /// `patterns` must each be at least `minimumLength` bytes; an empty list finds nothing.
    public init(patterns: [SecretBytes]) {
        precondition(patterns.allSatisfy { $0.count >= Self.minimumLength }, "patterns must be at least 4 bytes")
        var storage: [UInt8] = []
        storage.reserveCapacity(patterns.reduce(0) { $0 + $1.count })
        var starts: [Int] = [], lengths: [Int] = []
        for pattern in patterns {
            starts.append(storage.count)
            lengths.append(pattern.count)
            pattern.append(to: &storage)
        }
        let stride = min(4, (lengths.min() ?? Self.minimumLength) - 3)
        var entries: [(gram: UInt32, pattern: Int32, offset: Int32)] = []
        entries.reserveCapacity(patterns.count * stride)
        let bytes = storage.span
        for index in starts.indices {
            for offset in 0..<stride {
                entries.append((Self.gram(bytes, at: starts[index] + offset), Int32(index), Int32(offset)))
            }
        }
        entries.sort { $0.gram < $1.gram }
        self.storage = storage
        self.starts = starts
        self.lengths = lengths
        self.stride = stride
        grams = entries.map(\.gram)
        gramPatterns = entries.map(\.pattern)
        gramOffsets = entries.map(\.offset)
        bitmap = [UInt64](repeating: 0, count: (1 << Self.bitmapBits) / 64)
        for gram in grams {
            let bit = Self.hash(gram)
            bitmap[bit >> 6] |= 1 << UInt64(bit & 63)
        }
        for index in entries.indices { entries[index] = (0, 0, 0) }
    }

    deinit {
        Crypto.wipe(&storage)
        Crypto.wipe(&grams)
        Crypto.wipe(&bitmap)
    }

    /// The 4 bytes at `offset` as a little-endian word (what an unaligned load gives on x86).
    @inline(__always)
    private static func gram(_ bytes: Span<UInt8>, at offset: Int) -> UInt32 {
        UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16 | UInt32(bytes[offset + 3]) << 24
    }

    @inline(__always)
    private static func hash(_ gram: UInt32) -> Int {
        Int((gram &* 0x9E37_79B1) >> UInt32(32 - bitmapBits))
    }

    public func length(ofPattern index: Int) -> Int { lengths[index] }

    /// Calls `found(pattern, start)` for every occurrence of every pattern in `text`, each once,
    /// in increasing order of probe position (starts can be up to 3 bytes out of order).
    public func search(_ text: Span<UInt8>, _ found: (_ pattern: Int, _ start: Int) -> Void) {
        guard !starts.isEmpty, text.count >= 4 else { return }
        let step = stride
        let bitmap = self.bitmap, storage = self.storage // references, for spans scoped to this call
        let bits = bitmap.span
        let patterns = storage.span
        var i = 0
        let last = text.count - 4
        while i <= last {
            let gram = Self.gram(text, at: i)
            let bit = Self.hash(gram)
            if bits[bit >> 6] & (1 << UInt64(bit & 63)) != 0 {
                verify(gram, at: i, in: text, patterns: patterns, found)
            }
            i += step
        }
    }

    private func verify(_ gram: UInt32, at position: Int, in text: Span<UInt8>, patterns: Span<UInt8>,
                        _ found: (Int, Int) -> Void) {
        var low = 0, high = grams.count
        while low < high {
            let mid = (low + high) / 2
            if grams[mid] < gram { low = mid + 1 } else { high = mid }
        }
        while low < grams.count && grams[low] == gram {
            let pattern = Int(gramPatterns[low])
            let start = position - Int(gramOffsets[low])
            let length = lengths[pattern]
            if start >= 0 && start + length <= text.count
                && Bytes.compare(text.extracting(start..<(start + length)),
                                 patterns.extracting(starts[pattern]..<(starts[pattern] + length))) == 0 {
                found(pattern, start)
            }
            low += 1
        }
    }
}
