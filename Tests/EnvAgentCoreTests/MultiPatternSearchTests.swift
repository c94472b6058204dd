import Foundation
import Testing
@testable import EnvAgentCore

@Suite struct MultiPatternSearchTests {
    /// Every (pattern, start) the straightforward way.
    func naive(_ patterns: [[UInt8]], _ text: [UInt8]) -> Set<[Int]> {
        var found = Set<[Int]>()
        text.withUnsafeBytes { t in
            for (index, pattern) in patterns.enumerated() where pattern.count <= text.count {
                pattern.withUnsafeBytes { p in
                    for start in 0...(text.count - pattern.count)
                    where t[start] == p[0] && memcmp(t.baseAddress! + start, p.baseAddress!, p.count) == 0 {
                        found.insert([index, start])
                    }
                }
            }
        }
        return found
    }

    func search(_ patterns: [[UInt8]], _ text: [UInt8]) -> [[Int]] {
        let search = MultiPatternSearch(patterns: patterns.map { SecretBytes($0) })
        var found: [[Int]] = []
        search.search(text.span) { found.append([$0, $1]) }
        return found
    }

    /// Random patterns over a small alphabet (so they overlap and repeat), planted in random text:
    /// the same occurrences as the naive search, each reported exactly once.
    @Test(arguments: [4, 5, 6, 7, 8, 13])
    func matchesNaiveSearch(shortest: Int) {
        var rng = SeededGenerator(seed: UInt64(shortest))
        let alphabet = Array("abcd".utf8)
        for round in 0..<40 {
            let patterns = (0..<Int.random(in: 1...30, using: &rng)).map { _ in
                (0..<Int.random(in: shortest...(shortest + 12), using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }
            }
            var text = (0..<Int.random(in: 0...600, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }
            for pattern in patterns.prefix(5) where text.count > pattern.count {
                let at = Int.random(in: 0...(text.count - pattern.count), using: &rng)
                text.replaceSubrange(at..<(at + pattern.count), with: pattern)
            }
            let found = search(patterns, text)
            #expect(found.count == Set(found).count, "round \(round): an occurrence reported twice")
            #expect(Set(found) == naive(patterns, text), "round \(round)")
        }
    }

    @Test func occurrencesAtTheEdgesOfTheText() {
        let pattern = Array("sk-proj-abcdefgh".utf8)
        let text = pattern + Array(" middle ".utf8) + pattern
        #expect(Set(search([pattern], text)) == [[0, 0], [0, pattern.count + 8]])
        #expect(search([pattern], Array(pattern.dropLast())).isEmpty)
        #expect(search([pattern], []).isEmpty)
        #expect(search([], text).isEmpty)
    }

    @Test func manyLongPatternsInBinaryText() {
        var rng = SeededGenerator(seed: 7)
        let patterns = (0..<1000).map { _ in (0..<Int.random(in: 8...60, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) } }
        var text = (0..<160_000).map { _ in UInt8.random(in: 0...255, using: &rng) }
        var planted = Set<[Int]>()
        for index in Swift.stride(from: 0, to: 1000, by: 37) {
            let at = index * 150
            text.replaceSubrange(at..<(at + patterns[index].count), with: patterns[index])
            planted.insert([index, at])
        }
        let found = Set(search(patterns, text))
        #expect(found.isSuperset(of: planted))
        #expect(found == naive(patterns, text))
    }
}

/// A small deterministic generator (SplitMix64) so failures reproduce.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
