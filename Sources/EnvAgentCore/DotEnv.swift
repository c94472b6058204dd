#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Output formats of `render`.
public enum RenderFormat: String, Sendable, CaseIterable, Codable {
    /// `KEY='value'` lines that python-dotenv, Node's dotenv, docker compose's env_file and
    /// POSIX `set -a; . ./file` all read back to the identical value.
    case env
    /// `export KEY='value'` lines, POSIX-quoted for `eval`.
    case sh
    /// One JSON object mapping env var → value.
    case json
}

/// One variable to render: its env var name and decrypted value.
public struct RenderEntry: Sendable {
    public let name: String
    public let envVar: String
    public let value: SecretBytes

    public init(name: String, envVar: String, value: SecretBytes) {
        self.name = name
        self.envVar = envVar
        self.value = value
    }
}

/// The `.env` renderer and parser.
public enum DotEnv {
    private static let quote = UInt8(ascii: "'"), doubleQuote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\")
    private static let dollar = UInt8(ascii: "$"), backtick = UInt8(ascii: "`"), newline = UInt8(ascii: "\n")
    private static let cr = UInt8(ascii: "\r"), brace = UInt8(ascii: "{")

    public static func render(_ entries: [RenderEntry], format: RenderFormat) throws -> SecretBytes {
        var out: [UInt8] = []
        do {
            for (index, entry) in entries.enumerated() {
                try entry.value.withUnsafeBytes {
                    try append(name: entry.name, envVar: Array(entry.envVar.utf8)[...], value: $0, format: format,
                               first: index == 0, to: &out)
                }
            }
        } catch {
            Crypto.wipe(&out)
            throw error
        }
        return framed([SecretBytes(out)], format: format)
    }

    /// Appends one variable in `format` to `out` (for JSON an object member, after a comma
    /// unless it is the `first`), growing `out` without leaving copies of values behind.
    static func append(name: String, envVar: ArraySlice<UInt8>, value: UnsafeRawBufferPointer, format: RenderFormat, first: Bool,
                       to out: inout [UInt8]) throws {
        // Worst case: JSON writes a control byte as 6 (`\u00XX`).
        Crypto.reserveWiping(&out, extra: envVar.count + 6 * value.count + 16)
        switch format {
        case .env:
            try appendEnvLine(name: name, envVar: envVar, value: value.bindMemory(to: UInt8.self), to: &out)
        case .sh:
            out += "export ".utf8
            out += envVar
            out.append(UInt8(ascii: "="))
            appendShellQuoted(value, to: &out)
            out.append(newline)
        case .json:
            if !first { out.append(UInt8(ascii: ",")) }
            JSONText.appendString(envVar, to: &out)
            out.append(UInt8(ascii: ":"))
            JSONText.appendString(value, to: &out)
        }
    }

    /// The whole file from runs of variables rendered separately (each starting with its
    /// `first` variable), in order: JSON adds the braces and the commas between runs.
    static func framed(_ parts: [SecretBytes], format: RenderFormat) -> SecretBytes {
        let json = format == .json
        let parts = json ? parts.filter { $0.count > 0 } : parts
        var out: [UInt8] = []
        out.reserveCapacity(parts.reduce(json ? parts.count + 2 : 0) { $0 + $1.count })
        if json { out.append(UInt8(ascii: "{")) }
        for (index, part) in parts.enumerated() {
            if json && index > 0 { out.append(UInt8(ascii: ",")) }
            part.withUnsafeBytes { out += $0 }
        }
        if json { out += "}\n".utf8 }
        return SecretBytes(out) // takes over the buffer, wiped when released
    }

    /// `KEY='value'`; `KEY="value"` when the value holds a single quote but nothing a double-quote
    /// reader would expand; otherwise an error naming the key and the character.
    static func appendEnvLine(name: String, envVar: ArraySlice<UInt8>, value: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) throws {
        var hasQuote = false, singleQuoteSafe = true
        var doubleQuoteBlocker: String?
        for i in value.indices {
            let byte = value[i]
            switch byte {
            case cr:
                throw unrepresentable(name, envVar, "a carriage return (CR)")
            case dollar where i + 1 < value.count && value[i + 1] == brace:
                throw unrepresentable(name, envVar, "'${' (python-dotenv and docker compose expand it even in quotes)")
            case quote:
                hasQuote = true
            case backslash:
                // Inside '…' python-dotenv and docker compose unescape \\ and \', and Node
                // stops at \' — a backslash is only safe before any other character.
                if i + 1 == value.count || value[i + 1] == backslash || value[i + 1] == quote { singleQuoteSafe = false }
                doubleQuoteBlocker = doubleQuoteBlocker ?? "a backslash"
            case doubleQuote: doubleQuoteBlocker = doubleQuoteBlocker ?? "a double quote"
            case dollar: doubleQuoteBlocker = doubleQuoteBlocker ?? "'$'"
            case backtick: doubleQuoteBlocker = doubleQuoteBlocker ?? "a backtick"
            case newline: doubleQuoteBlocker = doubleQuoteBlocker ?? "a newline"
            default: break
            }
        }
        let delimiter: UInt8
        if !hasQuote && singleQuoteSafe {
            delimiter = quote
        } else if hasQuote && doubleQuoteBlocker == nil {
            delimiter = doubleQuote
        } else if !singleQuoteSafe {
            throw unrepresentable(name, envVar, "a backslash before a quote, another backslash or the end of the value")
        } else {
            throw unrepresentable(name, envVar, "a single quote together with \(doubleQuoteBlocker!)")
        }
        out += envVar
        out.append(UInt8(ascii: "="))
        out.append(delimiter)
        out += value
        out.append(delimiter)
        out.append(newline)
    }

    private static func unrepresentable(_ name: String, _ envVarBytes: ArraySlice<UInt8>, _ what: String) -> AgentError {
        let envVar = String(decoding: envVarBytes, as: UTF8.self)
        return AgentError(.validationError,
                   "cannot write secret '\(name)' (\(envVar)) to a .env file: its value contains \(what), which .env parsers read differently",
                   details: [.init(loc: ["secrets", name], msg: "value contains \(what)", type: "unrepresentable_value")],
                   hint: "use --format sh or --format json, or `agent run` to pass it to a process directly")
    }

    /// POSIX single quoting: `'…'` with each `'` written as `'\''`.
    static func appendShellQuoted(_ value: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        out.append(quote)
        for byte in value {
            if byte == quote { out += "'\\''".utf8 } else { out.append(byte) }
        }
        out.append(quote)
    }

    // MARK: - Parsing (for `agent import`)

    /// One `KEY=value` assignment read from a `.env` file.
    public struct Assignment: Sendable {
        public let key: String
        public let value: SecretBytes
        public let line: Int
    }

    /// Reads `KEY=value` lines: optional `export `, `#` comments, unquoted values (a ` #` starts a
    /// comment), `'…'` literal and `"…"` with `\n \r \t \\ \" \$` escapes (both may span lines).
    /// Any malformed line fails with its number; nothing is returned partially.
    public static func parse(_ bytes: [UInt8]) throws -> [Assignment] {
        var i = 0, line = 1
        let n = bytes.count
        let estimatedLines = bytes.withUnsafeBufferPointer { buffer in
            var count = 1, offset = 0
            while offset < buffer.count, let hit = memchr(buffer.baseAddress! + offset, Int32(newline), buffer.count - offset) {
                count += 1
                offset = buffer.baseAddress!.distance(to: hit.assumingMemoryBound(to: UInt8.self)) + 1
            }
            return count
        }
        var result: [Assignment] = []
        result.reserveCapacity(estimatedLines)
        var seen: [String: Int] = [:]
        seen.reserveCapacity(estimatedLines)
        func fail(_ message: String, at lineNumber: Int) -> AgentError {
            AgentError(.invalidRequest, "line \(lineNumber): \(message)",
                       details: [.init(loc: ["file", "line \(lineNumber)"], msg: message, type: "malformed_line")])
        }
        func isBlank(_ b: UInt8) -> Bool { b == UInt8(ascii: " ") || b == UInt8(ascii: "\t") }
        while i < n {
            let start = line
            while i < n && isBlank(bytes[i]) { i += 1 }
            if i < n && (bytes[i] == newline || bytes[i] == cr) {
                if bytes[i] == newline { line += 1 }
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
                var closed = false
                while i < n {
                    let byte = bytes[i]
                    if byte == delimiter { closed = true; i += 1; break }
                    if byte == newline { line += 1 }
                    if delimiter == doubleQuote && byte == backslash && i + 1 < n {
                        let next = bytes[i + 1]
                        switch next {
                        case UInt8(ascii: "n"): value.append(newline)
                        case UInt8(ascii: "r"): value.append(cr)
                        case UInt8(ascii: "t"): value.append(UInt8(ascii: "\t"))
                        case backslash, doubleQuote, dollar: value.append(next)
                        default: value.append(byte); value.append(next)
                        }
                        i += 2
                        continue
                    }
                    value.append(byte)
                    i += 1
                }
                guard closed else { throw fail("unterminated quoted value", at: start) }
                while i < n && isBlank(bytes[i]) { i += 1 }
                if i < n && bytes[i] == UInt8(ascii: "#") {
                    while i < n && bytes[i] != newline { i += 1 }
                }
                if i < n && bytes[i] == cr { i += 1 }
                guard i >= n || bytes[i] == newline else {
                    throw fail("unexpected characters after the closing quote", at: line)
                }
            } else {
                // Up to the end of the line or a `#` that starts the value or follows a blank,
                // without trailing blanks or CR; copied once.
                var end = i
                while end < n && bytes[end] != newline {
                    if bytes[end] == UInt8(ascii: "#") && (end == i || isBlank(bytes[end - 1])) { break }
                    end += 1
                }
                var last = end
                while last > i && (isBlank(bytes[last - 1]) || bytes[last - 1] == cr) { last -= 1 }
                value = Array(bytes[i..<last])
                i = end
                while i < n && bytes[i] != newline { i += 1 }
            }
            if let earlier = seen[key] {
                throw fail("\(key) is set again (first on line \(earlier))", at: start)
            }
            seen[key] = start
            result.append(Assignment(key: key, value: SecretBytes(value), line: start))
            value = [] // the SecretBytes owns (and will wipe) the only copy; no copy-on-write for the wipe
        }
        return result
    }
}
