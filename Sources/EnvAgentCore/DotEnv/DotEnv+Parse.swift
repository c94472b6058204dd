#if canImport(Glibc)
import Glibc
#endif

/// The `.env` reader of `agent import`: the dialect the dotenv peers (python-dotenv, Node's
/// dotenv, docker compose, godotenv, Ruby's dotenv) agree on, and documented choices where
/// they do not (README "Import dialect").
extension DotEnv {
    /// One `KEY=value` assignment read from an imported file.
    public struct Assignment: Sendable {
        public let key: String
        public let value: SecretBytes
        public let line: Int

        public init(key: String, value: SecretBytes, line: Int) {
            self.key = key
            self.value = value
            self.line = line
        }
    }

    /// What a file holds: its assignments (a repeated key only once, where it was last set) and
    /// warnings (never holding a value).
    public struct ParsedFile: Sendable {
        public var assignments: [Assignment]
        public var warnings: [String]
    }

    /// The UTF-8 byte-order mark, dropped at the start of a file.
    static let byteOrderMark: [UInt8] = [0xEF, 0xBB, 0xBF]

    /// `bytes` without a leading BOM, with CRLF and bare CR line endings (inside quoted values
    /// too) turned into LF, as python-dotenv's universal newlines and Node's `\r\n?` replace do.
    static func normalizedLines(_ bytes: [UInt8]) -> [UInt8] {
        let start = bytes.starts(with: byteOrderMark) ? byteOrderMark.count : 0
        guard bytes[start...].contains(cr) else { return Array(bytes[start...]) }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count - start)
        var i = start
        while i < bytes.count {
            let byte = bytes[i]
            if byte == cr {
                out.append(newline)
                if i + 1 < bytes.count && bytes[i + 1] == newline { i += 1 }
            } else {
                out.append(byte)
            }
            i += 1
        }
        return out
    }

    /// `parse(_:expanding:)` without expansion, assignments only.
    public static func parse(_ bytes: [UInt8]) throws -> [Assignment] {
        try parse(bytes, expanding: nil).assignments
    }

    /// Reads `KEY=value` lines: optional `export `, `#` comments, unquoted values (a `#` that
    /// starts the value or follows a blank starts a comment; trailing blanks dropped), `'…'`
    /// literal and `"…"` with `\n \r \t \\ \" \$` escapes (both may span lines). A BOM is
    /// dropped; LF, CRLF and CR all end lines. A key set twice keeps its last value, with a
    /// warning naming both lines. With `environment` (`--expand`), `$VAR`, `${VAR}`,
    /// `${VAR:-default}` and `${VAR-default}` in unquoted and double-quoted values are replaced
    /// by the value of a key set earlier in the file, else by `environment(VAR)`, else by the
    /// default or nothing; `$$` is one `$`. Any malformed line fails with its number; nothing is
    /// returned partially.
    public static func parse(_ input: [UInt8], expanding environment: ((String) -> String?)?) throws -> ParsedFile {
        var bytes = normalizedLines(input)
        defer { Crypto.wipe(&bytes) }
        var i = 0, line = 1
        let n = bytes.count
        var estimatedLines = 1, offset = 0
        let span = bytes.span
        while let hit = Bytes.firstIndex(of: newline, in: span, from: offset) {
            estimatedLines += 1
            offset = hit + 1
        }
        var result: [Assignment?] = []
        result.reserveCapacity(estimatedLines)
        var warnings: [String] = []
        var seen: [String: Int] = [:] // key → index in `result`
        seen.reserveCapacity(estimatedLines)
        func fail(_ message: String, at lineNumber: Int) -> AgentError {
            AgentError(.invalidRequest, "line \(lineNumber): \(message)",
                       details: [.init(loc: ["file", "line \(lineNumber)"], msg: message, type: "malformed_line")])
        }
        func isBlank(_ b: UInt8) -> Bool { b == UInt8(ascii: " ") || b == UInt8(ascii: "\t") }
        /// The value of `name` for an expansion: an earlier key of the file, else the environment.
        func lookup(_ name: String) -> [UInt8]? {
            if let index = seen[name], let earlier = result[index] {
                var bytes: [UInt8] = []
                earlier.value.append(to: &bytes)
                return bytes
            }
            return environment?(name).map { Array($0.utf8) }
        }
        /// Expands the reference at `bytes[at]` (a `$`) into `value`; returns the index after it.
        /// `end` bounds the reference (the end of an unquoted value, or the closing quote).
        func expandReference(at start: Int, end: Int, into value: inout [UInt8], line lineNumber: Int) throws -> Int {
            var j = start + 1
            if j < end && bytes[j] == dollar { value.append(dollar); return j + 1 }
            if j < end && bytes[j] == brace {
                j += 1
                let nameStart = j
                while j < end && Validation.isEnvVarByte(bytes[j], first: j == nameStart) { j += 1 }
                let name = String(decoding: bytes[nameStart..<j], as: UTF8.self)
                guard !name.isEmpty, j < end else {
                    throw fail(j >= end ? "unterminated ${ (no closing })" : "${ must be followed by a variable name", at: lineNumber)
                }
                var defaultValue: ArraySlice<UInt8>?
                var emptyUsesDefault = false, hasDefault = true
                if bytes[j] == UInt8(ascii: ":") && j + 1 < end && bytes[j + 1] == UInt8(ascii: "-") {
                    emptyUsesDefault = true
                    j += 2
                } else if bytes[j] == UInt8(ascii: "-") {
                    j += 1
                } else if bytes[j] == UInt8(ascii: "}") {
                    hasDefault = false
                } else {
                    throw fail("${\(name)…}: only ${VAR}, ${VAR:-default} and ${VAR-default} are supported", at: lineNumber)
                }
                if hasDefault {
                    let defaultStart = j
                    while j < end && bytes[j] != UInt8(ascii: "}") {
                        if bytes[j] == dollar && j + 1 < end && bytes[j + 1] == brace {
                            throw fail("${\(name)…}: a default cannot hold another ${…}", at: lineNumber)
                        }
                        j += 1
                    }
                    guard j < end else { throw fail("unterminated ${ (no closing })", at: lineNumber) }
                    defaultValue = bytes[defaultStart..<j]
                }
                j += 1 // the }
                let found = lookup(name)
                if let found, !(emptyUsesDefault && found.isEmpty) {
                    value += found
                } else if let defaultValue {
                    // `$VAR` in a default is expanded too (`${A:-$B}`).
                    var k = defaultValue.startIndex
                    while k < defaultValue.endIndex {
                        if bytes[k] == dollar { k = try expandReference(at: k, end: defaultValue.endIndex, into: &value, line: lineNumber) }
                        else { value.append(bytes[k]); k += 1 }
                    }
                }
                return j
            }
            let nameStart = j
            while j < end && Validation.isEnvVarByte(bytes[j], first: j == nameStart) { j += 1 }
            guard j > nameStart else { value.append(dollar); return start + 1 } // a lone `$`
            value += lookup(String(decoding: bytes[nameStart..<j], as: UTF8.self)) ?? []
            return j
        }
        while i < n {
            let start = line
            while i < n && isBlank(bytes[i]) { i += 1 }
            if i < n && bytes[i] == newline {
                line += 1
                i += 1; continue
            }
            if i < n && bytes[i] == UInt8(ascii: "#") {
                while i < n && bytes[i] != newline { i += 1 }
                continue
            }
            if i >= n { break }
            // key
            var keyStart = i
            while i < n && bytes[i] != UInt8(ascii: "=") && bytes[i] != newline && !isBlank(bytes[i]) { i += 1 }
            if i < n && isBlank(bytes[i]) && bytes[keyStart..<i].elementsEqual("export".utf8) {
                while i < n && isBlank(bytes[i]) { i += 1 }
                keyStart = i
                while i < n && bytes[i] != UInt8(ascii: "=") && bytes[i] != newline && !isBlank(bytes[i]) { i += 1 }
            }
            let key = String(decoding: bytes[keyStart..<i], as: UTF8.self)
            while i < n && isBlank(bytes[i]) { i += 1 }
            guard i < n && bytes[i] == UInt8(ascii: "=") else { throw fail("expected KEY=value", at: start) }
            guard Validation.isValidEnvVar(key) else {
                throw fail("'\(key.prefix(140))' is not a valid variable name", at: start)
            }
            i += 1
            while i < n && isBlank(bytes[i]) { i += 1 }
            var value: [UInt8] = []
            defer { Crypto.wipe(&value) }
            if i < n && (bytes[i] == quote || bytes[i] == doubleQuote) {
                let delimiter = bytes[i]
                i += 1
                // The closing quote bounds `${…}`; found first so a reference cannot run past it.
                var close = i
                while close < n && bytes[close] != delimiter {
                    if delimiter == doubleQuote && bytes[close] == backslash && close + 1 < n { close += 1 }
                    close += 1
                }
                guard close < n else { throw fail("unterminated quoted value", at: start) }
                while i < close {
                    let byte = bytes[i]
                    if byte == newline { line += 1 }
                    if delimiter == doubleQuote && byte == backslash && i + 1 < close {
                        let next = bytes[i + 1]
                        switch next {
                        case UInt8(ascii: "n"): value.append(newline)
                        case UInt8(ascii: "r"): value.append(cr)
                        case UInt8(ascii: "t"): value.append(UInt8(ascii: "\t"))
                        case backslash, doubleQuote, dollar: value.append(next)
                        default: value.append(byte); value.append(next)
                        }
                        if next == newline { line += 1 }
                        i += 2
                        continue
                    }
                    if delimiter == doubleQuote && byte == dollar && environment != nil {
                        i = try expandReference(at: i, end: close, into: &value, line: start)
                        continue
                    }
                    value.append(byte)
                    i += 1
                }
                i = close + 1
                while i < n && isBlank(bytes[i]) { i += 1 }
                if i < n && bytes[i] == UInt8(ascii: "#") {
                    while i < n && bytes[i] != newline { i += 1 }
                }
                guard i >= n || bytes[i] == newline else {
                    throw fail("unexpected characters after the closing quote", at: line)
                }
            } else {
                // Up to the end of the line or a `#` that starts the value or follows a blank,
                // without trailing blanks; copied once.
                var end = i
                while end < n && bytes[end] != newline {
                    if bytes[end] == UInt8(ascii: "#") && (end == i || isBlank(bytes[end - 1])) { break }
                    end += 1
                }
                var last = end
                while last > i && isBlank(bytes[last - 1]) { last -= 1 }
                if environment != nil {
                    var k = i
                    while k < last {
                        if bytes[k] == dollar { k = try expandReference(at: k, end: last, into: &value, line: start) }
                        else { value.append(bytes[k]); k += 1 }
                    }
                } else {
                    value = Array(bytes[i..<last])
                }
                i = end
                while i < n && bytes[i] != newline { i += 1 }
            }
            if let earlier = seen[key], let first = result[earlier] {
                warnings.append("line \(start): \(key) is set again (first on line \(first.line)); the last value wins")
                result[earlier] = nil
            }
            seen[key] = result.count
            result.append(Assignment(key: key, value: SecretBytes(value), line: start))
            value = [] // the SecretBytes owns (and will wipe) the only copy; no copy-on-write for the wipe
        }
        return ParsedFile(assignments: result.compactMap { $0 }, warnings: warnings)
    }
}
