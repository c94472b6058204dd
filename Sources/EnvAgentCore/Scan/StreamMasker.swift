/// Replaces every occurrence of secret values in a byte stream by their masked form
/// (`Masking.mask`) as the stream passes, for `agent run`'s output.
///
/// A value may be split across reads, so the masker holds back the longest tail of what it was
/// given that is the beginning of some value (and only that: other output passes at once, so a
/// prompt without a newline still shows). Occurrences are found with `MultiPatternSearch`;
/// overlapping ones resolve leftmost first, then longest. An occurrence is replaced only once it
/// is complete and no longer value could still start at the same place.
public final class StreamMasker {
    /// Values shorter than this many characters are not masked (too likely in ordinary output).
    public static let minimumCharacters = 6

    private let search: MultiPatternSearch?
    /// The values in the search's order, concatenated, and their masked forms.
    private var storage: [UInt8]
    private let starts: [Int]
    private let lengths: [Int]
    private let masks: [[UInt8]]
    /// Pattern indices sorted bytewise, for the "is this tail the start of a value" lookup.
    private let sorted: [Int]
    private var firstBytes = [Bool](repeating: false, count: 256)
    private let longest: Int
    /// Bytes received and not yet passed on (the start of a possible value).
    private var pending: [UInt8] = []

    public init(values: [SecretBytes]) {
        var storage: [UInt8] = [], starts: [Int] = [], lengths: [Int] = [], masks: [[UInt8]] = []
        var kept: [SecretBytes] = []
        for value in values {
            let text = value.utf8String
            guard text.unicodeScalars.count >= Self.minimumCharacters, value.count >= MultiPatternSearch.minimumLength else { continue }
            let duplicate = kept.contains { $0.matches(value) }
            if duplicate { continue }
            kept.append(value)
            starts.append(storage.count)
            lengths.append(value.count)
            value.append(to: &storage)
            masks.append(Array(Masking.mask(text).utf8))
        }
        search = kept.isEmpty ? nil : MultiPatternSearch(patterns: kept)
        self.storage = storage
        self.starts = starts
        self.lengths = lengths
        self.masks = masks
        longest = lengths.max() ?? 0
        let values = storage.span
        sorted = starts.indices.sorted { a, b in
            Bytes.compare(values.extracting(starts[a]..<(starts[a] + lengths[a])),
                          values.extracting(starts[b]..<(starts[b] + lengths[b]))) < 0
        }
        for start in starts { firstBytes[Int(storage[start])] = true }
    }

    deinit {
        Crypto.wipe(&storage)
        Crypto.wipe(&pending)
    }

    /// Whether any value is masked at all.
    public var isActive: Bool { search != nil }

    /// Takes the next bytes of the stream; returns what can be passed on now.
    public func feed(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        guard search != nil else { return Array(bytes) }
        Crypto.reserveWiping(&pending, extra: bytes.count)
        pending += bytes
        return release(final: false)
    }

    /// The end of the stream: everything still held, masked.
    public func finish() -> [UInt8] {
        guard search != nil else { return [] }
        return release(final: true)
    }

    private func release(final: Bool) -> [UInt8] {
        guard let search else { return [] }
        let boundary = final ? pending.count : pending.count - heldTail()
        var found: [(pattern: Int, start: Int)] = []
        search.search(pending.span) { found.append(($0, $1)) }
        found.sort { $0.start != $1.start ? $0.start < $1.start : lengths[$0.pattern] > lengths[$1.pattern] }
        var out: [UInt8] = []
        out.reserveCapacity(boundary + 16)
        var cursor = 0
        for (pattern, start) in found where start >= cursor {
            guard start < boundary else { break }
            out += pending[cursor..<start]
            out += masks[pattern]
            cursor = start + lengths[pattern]
        }
        if cursor < boundary {
            out += pending[cursor..<boundary]
            cursor = boundary
        }
        // Drop what was passed on; the held tail moves to the front (wiping the old copy).
        let tail = Array(pending[cursor...])
        Crypto.wipe(&pending)
        pending = tail
        return out
    }

    /// The length of the longest tail of `pending` that is a proper beginning of some value.
    private func heldTail() -> Int {
        let count = pending.count
        let from = max(0, count - (longest - 1))
        let pending = self.pending, storage = self.storage // references, for spans scoped to this call
        let text = pending.span, values = storage.span
        for start in from..<count where firstBytes[Int(text[start])] {
            if beginsProperly(text.extracting(start..<count), values) { return count - start }
        }
        return 0
    }

    /// Whether some value is longer than `prefix` and starts with it (binary search in
    /// byte order: the values starting with `prefix` follow the first one not below it).
    private func beginsProperly(_ prefix: Span<UInt8>, _ values: Span<UInt8>) -> Bool {
        var low = 0, high = sorted.count
        while low < high {
            let mid = (low + high) / 2
            let pattern = sorted[mid]
            if Bytes.compare(values.extracting(starts[pattern]..<(starts[pattern] + lengths[pattern])), prefix) < 0 {
                low = mid + 1
            } else {
                high = mid
            }
        }
        for index in low..<min(low + 2, sorted.count) {
            let pattern = sorted[index]
            let candidate = values.extracting(starts[pattern]..<(starts[pattern] + lengths[pattern]))
            if candidate.count > prefix.count && Bytes.compare(candidate.extracting(0..<prefix.count), prefix) == 0 { return true }
        }
        return false
    }
}
