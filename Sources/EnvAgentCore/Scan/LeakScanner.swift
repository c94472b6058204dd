
/// One thing a scan found: where, and which secret — never the value.
public struct LeakFinding: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        /// A current secret value of the store.
        case secretValue = "secret_value"
        /// An identity's secret key text (`AGENT-SECRET-KEY-…`).
        case identityKey = "identity_key"
        /// A rendered file (`.env`, `.env.*`, a configured render target) staged for commit.
        case renderedFile = "rendered_file"
    }

    public var kind: Kind
    public var path: String
    /// 1-based line of the match's start; nil for a whole file.
    public var line: Int?
    /// `NAME (environment)` of every secret with this value; empty for other kinds.
    public var secrets: [String]
    /// The commit that introduced the content (history scans only).
    public var commit: String?

    public init(kind: Kind, path: String, line: Int?, secrets: [String] = [], commit: String? = nil) {
        self.kind = kind
        self.path = path
        self.line = line
        self.secrets = secrets
        self.commit = commit
    }

    /// `path:line` (or the path alone).
    public var location: String { line.map { "\(path):\($0)" } ?? path }

    /// What was found, without the value.
    public var what: String {
        switch kind {
        case .secretValue: "value of \(secrets.joined(separator: ", "))"
        case .identityKey: "an identity secret key (\(Identity.secretKeyPrefix)…)"
        case .renderedFile: "a rendered secrets file (.env files and render targets are never committed)"
        }
    }
}

/// Which environments a value scan could cover.
public struct ValueScanCoverage: Codable, Sendable, Equatable {
    /// Environments whose current values were searched for.
    public var environments: [String]
    /// Environments this identity cannot open (not a member).
    public var unreadableEnvironments: [String]
    /// Why the value scan did not run at all (no identity, no store…); nil when it ran.
    public var skippedReason: String?
    /// Values searched for (at least `LeakScanner.minimumValueLength` bytes; equal values once).
    public var values: Int

    enum CodingKeys: String, CodingKey {
        case environments
        case unreadableEnvironments = "unreadable_environments"
        case skippedReason = "skipped_reason"
        case values
    }
}

/// The value-aware leak scanner: searches content for every current secret value (of at least
/// `minimumValueLength` bytes) of the environments the identity can open, and for identity key
/// texts, with one `MultiPatternSearch` pass per file.
public final class LeakScanner {
    /// Shorter values are too likely to occur by chance (`true`, `8080`) to block a commit.
    public static let minimumValueLength = 8
    /// Base64url characters that must follow the prefix for a key text to count (32 bytes).
    static let keyTextLength = 43

    private let search: MultiPatternSearch
    /// For each pattern, the secrets (`NAME (env)`) whose value it is; empty for the key prefix.
    private let labels: [[String]]
    private let keyPattern: Int
    public let coverage: ValueScanCoverage

    /// `values`: decrypted values and the secret each belongs to. Shorter values are skipped;
    /// equal values become one pattern naming every secret that holds it.
    public init(values: [(value: SecretBytes, label: String)], coverage: ValueScanCoverage) {
        let usable = values.filter { $0.value.count >= Self.minimumValueLength }
        // Group equal values without hashing them into a dictionary (which could not be wiped).
        let order = usable.indices.sorted { Self.less(usable[$0].value, usable[$1].value) }
        var patterns: [SecretBytes] = []
        var labels: [[String]] = []
        for index in order {
            if let last = patterns.last, Self.equal(last, usable[index].value) {
                labels[labels.count - 1].append(usable[index].label)
            } else {
                patterns.append(usable[index].value)
                labels.append([usable[index].label])
            }
        }
        var coverage = coverage
        coverage.values = patterns.count
        self.coverage = coverage
        keyPattern = patterns.count
        patterns.append(SecretBytes(Array(Identity.secretKeyPrefix.utf8)))
        labels.append([])
        self.labels = labels.map { $0.sorted() }
        search = MultiPatternSearch(patterns: patterns)
    }

    private static func less(_ a: SecretBytes, _ b: SecretBytes) -> Bool { a.lexicographicallyPrecedes(b) }

    private static func equal(_ a: SecretBytes, _ b: SecretBytes) -> Bool { !less(a, b) && !less(b, a) }

    /// Findings in one file's content. With `addedLines`, a value or key counts only when it
    /// touches one of those lines (an added or changed line of a modified file); nil means every
    /// line is new. One finding per line and kind, naming every secret found on it.
    public func scan(_ content: Span<UInt8>, path: String, addedLines: [ClosedRange<Int>]? = nil,
                     commit: String? = nil) -> [LeakFinding] {
        var matches: [(start: Int, end: Int, pattern: Int)] = []
        search.search(content) { pattern, start in
            let end = start + search.length(ofPattern: pattern)
            if pattern == keyPattern && !Self.isKeyText(content, after: end) { return }
            matches.append((start, end, pattern))
        }
        guard !matches.isEmpty else { return [] }
        matches.sort { $0.start < $1.start }
        var findings: [LeakFinding] = []
        var line = 1, position = 0
        let bytes = content
        func lineNumber(at offset: Int) -> Int {
            // Matches are sorted, so lines are counted once over the file.
            if offset < position { line = 1; position = 0 }
            while position < offset {
                if bytes[position] == UInt8(ascii: "\n") { line += 1 }
                position += 1
            }
            return line
        }
        for match in matches {
            let first = lineNumber(at: match.start)
            var last = first
            for offset in match.start..<(match.end - 1) where bytes[offset] == UInt8(ascii: "\n") { last += 1 }
            if let addedLines, !addedLines.contains(where: { $0.overlaps(first...last) }) { continue }
            let kind: LeakFinding.Kind = match.pattern == keyPattern ? .identityKey : .secretValue
            if let index = findings.firstIndex(where: { $0.line == first && $0.kind == kind }) {
                findings[index].secrets = Array(Set(findings[index].secrets + labels[match.pattern])).sorted()
            } else {
                findings.append(LeakFinding(kind: kind, path: path, line: first, secrets: labels[match.pattern], commit: commit))
            }
        }
        return findings
    }

    private static func isKeyText(_ content: Span<UInt8>, after end: Int) -> Bool {
        guard end + keyTextLength <= content.count else { return false }
        for offset in end..<(end + keyTextLength) {
            switch content[offset] {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"):
                continue
            default:
                return false
            }
        }
        return true
    }
}
