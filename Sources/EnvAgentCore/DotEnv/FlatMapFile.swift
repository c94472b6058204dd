/// The JSON and YAML files `agent import --format json|yaml` reads: one flat map from variable
/// names to strings (README "Import dialect"). Anything nested is refused naming its key; no
/// message ever holds a value.
public enum FlatMapFile {
    public enum Format: String, Sendable, CaseIterable {
        case dotenv, json, yaml
    }

    /// The format a file name implies: `.json`, `.yaml`/`.yml`, else dotenv.
    public static func format(ofPath path: String) -> Format {
        let lower = path.lowercased()
        if lower.hasSuffix(".json") { return .json }
        if lower.hasSuffix(".yaml") || lower.hasSuffix(".yml") { return .yaml }
        return .dotenv
    }

    static func fail(_ message: String, line: Int, key: String? = nil, type: String = "malformed_line") -> AgentError {
        AgentError(.invalidRequest, "line \(line): \(message)",
                   details: [.init(loc: ["file", "line \(line)"] + (key.map { [$0] } ?? []), msg: message, type: type)])
    }

    static func nested(_ key: String, line: Int, _ what: String) -> AgentError {
        AgentError(.invalidRequest, "line \(line): \(key) holds \(what); only a flat map of strings can be imported",
                   details: [.init(loc: ["file", "line \(line)", key], msg: "nested value", type: "nested_value")],
                   hint: "import one level at a time: a key per variable, each with a string value")
    }

    /// Collects assignments: a repeated key keeps its last value, with a warning.
    struct Collector {
        var result: [DotEnv.Assignment?] = []
        var seen: [String: Int] = [:]
        var warnings: [String] = []

        mutating func add(_ key: String, _ value: [UInt8], line: Int) throws {
            guard Validation.isValidEnvVar(key) else {
                throw FlatMapFile.fail("'\(key.prefix(140))' is not a valid variable name", line: line)
            }
            if let earlier = seen[key], let first = result[earlier] {
                warnings.append("line \(line): \(key) is set again (first on line \(first.line)); the last value wins")
                result[earlier] = nil
            }
            seen[key] = result.count
            result.append(DotEnv.Assignment(key: key, value: SecretBytes(value), line: line))
        }

        var parsed: DotEnv.ParsedFile { DotEnv.ParsedFile(assignments: result.compactMap { $0 }, warnings: warnings) }
    }

    // MARK: - JSON

    /// One JSON object (RFC 8259) whose values are strings; numbers and `true`/`false` are taken
    /// as their text. `null`, objects and arrays are refused naming the key.
    public static func parseJSON(_ input: [UInt8]) throws -> DotEnv.ParsedFile {
        var bytes = Array(input.starts(with: DotEnv.byteOrderMark) ? input.dropFirst(3) : input[...])
        defer { Crypto.wipe(&bytes) }
        var i = 0, line = 1
        var collector = Collector()
        func skipSpace() {
            while i < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[i]) {
                if bytes[i] == 0x0A { line += 1 }
                i += 1
            }
        }
        func expect(_ byte: UInt8, _ what: String) throws {
            skipSpace()
            guard i < bytes.count, bytes[i] == byte else { throw fail("expected \(what)", line: line) }
            i += 1
        }
        func string() throws -> [UInt8] {
            try expect(UInt8(ascii: "\""), "a string")
            var out: [UInt8] = []
            while true {
                guard i < bytes.count else { throw fail("unterminated string", line: line) }
                let byte = bytes[i]
                i += 1
                switch byte {
                case UInt8(ascii: "\""): return out
                case 0..<0x20: throw fail("a control character inside a string (escape it)", line: line)
                case UInt8(ascii: "\\"):
                    guard i < bytes.count else { throw fail("unterminated string", line: line) }
                    let escape = bytes[i]
                    i += 1
                    switch escape {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escape)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0C)
                    case UInt8(ascii: "n"): out.append(0x0A)
                    case UInt8(ascii: "r"): out.append(0x0D)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "u"):
                        var scalar = try hex4()
                        if (0xD800..<0xDC00).contains(scalar) {
                            guard i + 1 < bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else {
                                throw fail("a lone surrogate in \\u escapes", line: line)
                            }
                            i += 2
                            let low = try hex4()
                            guard (0xDC00..<0xE000).contains(low) else { throw fail("a lone surrogate in \\u escapes", line: line) }
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        }
                        guard let unicode = Unicode.Scalar(scalar) else { throw fail("a lone surrogate in \\u escapes", line: line) }
                        out += Array(String(Character(unicode)).utf8)
                    default: throw fail("an unknown escape in a string", line: line)
                    }
                default: out.append(byte)
                }
            }
        }
        func hex4() throws -> UInt32 {
            guard i + 4 <= bytes.count, let value = UInt32(String(decoding: bytes[i..<i + 4], as: UTF8.self), radix: 16) else {
                throw fail("a \\u escape needs four hex digits", line: line)
            }
            i += 4
            return value
        }
        try expect(UInt8(ascii: "{"), "a JSON object ({…})")
        skipSpace()
        if i < bytes.count && bytes[i] == UInt8(ascii: "}") {
            i += 1
        } else {
            while true {
                skipSpace()
                let keyLine = line
                let key = String(decoding: try string(), as: UTF8.self)
                try expect(UInt8(ascii: ":"), "':' after the key")
                skipSpace()
                guard i < bytes.count else { throw fail("the object is not closed", line: line) }
                switch bytes[i] {
                case UInt8(ascii: "\""):
                    var value = try string()
                    defer { Crypto.wipe(&value) }
                    try collector.add(key, value, line: keyLine)
                case UInt8(ascii: "{"): throw nested(key, line: keyLine, "an object")
                case UInt8(ascii: "["): throw nested(key, line: keyLine, "an array")
                default:
                    let start = i
                    while i < bytes.count, !([0x20, 0x09, 0x0A, 0x0D, UInt8(ascii: ","), UInt8(ascii: "}")].contains(bytes[i])) { i += 1 }
                    let text = String(decoding: bytes[start..<i], as: UTF8.self)
                    if text == "null" {
                        throw fail("\(key) is null; only strings can be imported", line: keyLine, key: key, type: "null_value")
                    }
                    guard text == "true" || text == "false" || isJSONNumber(text) else {
                        throw fail("the value of \(key) is not a JSON value", line: keyLine, key: key)
                    }
                    try collector.add(key, Array(text.utf8), line: keyLine)
                }
                skipSpace()
                guard i < bytes.count else { throw fail("the object is not closed", line: line) }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                if bytes[i] == UInt8(ascii: "}") { i += 1; break }
                throw fail("expected ',' or '}'", line: line)
            }
        }
        skipSpace()
        guard i == bytes.count else { throw fail("unexpected characters after the object", line: line) }
        return collector.parsed
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    static func isJSONNumber(_ text: String) -> Bool {
        var rest = Substring(text)
        func digits() -> Int {
            let count = rest.prefix(while: { $0.isASCII && $0.isNumber }).count
            rest = rest.dropFirst(count)
            return count
        }
        if rest.first == "-" { rest = rest.dropFirst() }
        if rest.first == "0" { rest = rest.dropFirst() } else if digits() == 0 { return false }
        if rest.first == "." { rest = rest.dropFirst(); if digits() == 0 { return false } }
        if rest.first == "e" || rest.first == "E" {
            rest = rest.dropFirst()
            if rest.first == "+" || rest.first == "-" { rest = rest.dropFirst() }
            if digits() == 0 { return false }
        }
        return rest.isEmpty
    }

    // MARK: - YAML

    /// A flat YAML map, one `KEY: value` per line (README "Import dialect"): a value is a
    /// double-quoted scalar (YAML escapes), a single-quoted one (`''` is a quote), a plain scalar
    /// taken as its text (`8080`, `true`; a ` #` starts a comment), or a literal block scalar
    /// (`|`, `|-`, `|+`). Refused, naming the key: nested maps and sequences, flow collections,
    /// `null`/`~`/no value, anchors, aliases and tags, folded (`>`) and multi-line quoted scalars.
    public static func parseYAML(_ input: [UInt8]) throws -> DotEnv.ParsedFile {
        var bytes = DotEnv.normalizedLines(input)
        defer { Crypto.wipe(&bytes) }
        var lines: [ArraySlice<UInt8>] = bytes.split(separator: 0x0A, omittingEmptySubsequences: false)
        if lines.last?.isEmpty == true { lines.removeLast() }
        var collector = Collector()
        var index = 0
        func isBlankOrComment(_ line: ArraySlice<UInt8>) -> Bool {
            let rest = line.drop(while: { $0 == 0x20 })
            return rest.isEmpty || rest.first == UInt8(ascii: "#")
        }
        while index < lines.count {
            let line = lines[index]
            let number = index + 1
            index += 1
            if isBlankOrComment(line) { continue }
            if line.elementsEqual("---".utf8) && collector.result.isEmpty { continue }
            if line.elementsEqual("...".utf8) {
                guard lines[index...].allSatisfy(isBlankOrComment) else { throw fail("content after the document end (...)", line: number) }
                break
            }
            guard let first = line.first, first != 0x20, first != 0x09 else {
                throw fail("unexpected indentation (only a flat map of KEY: value lines is read)", line: number)
            }
            if first == UInt8(ascii: "-") { throw fail("a sequence item; expected KEY: value", line: number) }
            // The key: plain, or quoted.
            var i = line.startIndex
            let key: String
            if first == UInt8(ascii: "\"") || first == UInt8(ascii: "'") {
                var scalar = try quoted(line, from: &i, line: number)
                defer { Crypto.wipe(&scalar) }
                key = String(decoding: scalar, as: UTF8.self)
            } else {
                while i < line.endIndex, !(line[i] == UInt8(ascii: ":") && (i + 1 == line.endIndex || line[i + 1] == 0x20)) { i += 1 }
                key = String(decoding: line[line.startIndex..<i], as: UTF8.self).trimmingWhitespace()
            }
            guard i < line.endIndex, line[i] == UInt8(ascii: ":") else { throw fail("expected KEY: value", line: number) }
            i += 1
            while i < line.endIndex, line[i] == 0x20 || line[i] == 0x09 { i += 1 }
            let rest = line[i...]
            var value: [UInt8]
            switch rest.first {
            case nil, UInt8(ascii: "#"):
                // No value: a nested block follows, or it is null.
                if index < lines.count, let next = lines[index].first, next == 0x20 || next == UInt8(ascii: "-"),
                   !isBlankOrComment(lines[index]) {
                    throw nested(key, line: number, "a nested map or list")
                }
                throw fail("\(key) has no value (null); only strings can be imported", line: number, key: key, type: "null_value")
            case UInt8(ascii: "\""), UInt8(ascii: "'"):
                value = try quoted(line, from: &i, line: number)
                while i < line.endIndex, line[i] == 0x20 || line[i] == 0x09 { i += 1 }
                guard i == line.endIndex || line[i] == UInt8(ascii: "#") else {
                    Crypto.wipe(&value)
                    throw fail("unexpected characters after the closing quote of \(key)", line: number, key: key)
                }
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                throw nested(key, line: number, "a flow collection")
            case UInt8(ascii: "&"), UInt8(ascii: "*"), UInt8(ascii: "!"):
                throw fail("\(key): anchors, aliases and tags are not supported", line: number, key: key)
            case UInt8(ascii: ">"):
                throw fail("\(key): folded scalars (>) are not supported; use a literal block (|)", line: number, key: key)
            case UInt8(ascii: "|"):
                let indicator = rest.dropFirst().prefix(while: { $0 != 0x20 && $0 != 0x09 })
                let chomping: UInt8? = indicator.first
                guard indicator.count <= 1, chomping == nil || chomping == UInt8(ascii: "-") || chomping == UInt8(ascii: "+"),
                      isBlankOrComment(rest.dropFirst(1 + indicator.count)) else {
                    throw fail("\(key): a block scalar takes only |, |- or |+ (no indentation indicator)", line: number, key: key)
                }
                value = []
                var indent: Int?
                var trailingBreaks = 0
                while index < lines.count {
                    let body = lines[index]
                    let spaces = body.prefix(while: { $0 == 0x20 }).count
                    if spaces == body.count { // an empty line belongs to the block
                        trailingBreaks += 1
                        index += 1
                        continue
                    }
                    if indent == nil {
                        guard spaces > 0 else { break }
                        indent = spaces
                    }
                    guard spaces >= indent! else { break }
                    if !value.isEmpty || trailingBreaks > 0 {
                        value += repeatElement(0x0A, count: (value.isEmpty ? 0 : 1) + trailingBreaks)
                    }
                    trailingBreaks = 0
                    value += body.dropFirst(indent!)
                    index += 1
                }
                switch chomping {
                case UInt8(ascii: "-"): break
                case UInt8(ascii: "+"): if !value.isEmpty { value += repeatElement(0x0A, count: 1 + trailingBreaks) }
                default: if !value.isEmpty { value.append(0x0A) }
                }
            default:
                let end = rest.indices.first(where: { rest[$0] == UInt8(ascii: "#") && (rest[$0 - 1] == 0x20 || rest[$0 - 1] == 0x09) })
                    ?? rest.endIndex
                var plain = rest[..<end]
                while let last = plain.last, last == 0x20 || last == 0x09 { plain = plain.dropLast() }
                let text = String(decoding: plain, as: UTF8.self)
                if ["~", "null", "Null", "NULL"].contains(text) {
                    throw fail("\(key) is null; only strings can be imported", line: number, key: key, type: "null_value")
                }
                if text.contains(": ") || text.hasSuffix(":") {
                    throw nested(key, line: number, "a nested map")
                }
                if let indicator = plain.first, "%@`".utf8.contains(indicator) {
                    throw fail("\(key): a plain value cannot start with \(Character(Unicode.Scalar(indicator))); quote it", line: number, key: key)
                }
                if index < lines.count, lines[index].first == 0x20, !isBlankOrComment(lines[index]) {
                    throw fail("\(key): a plain value continued on the next line is not supported; quote it or use |", line: number + 1, key: key)
                }
                value = Array(plain)
            }
            defer { Crypto.wipe(&value) }
            try collector.add(key, value, line: number)
        }
        return collector.parsed
    }

    /// A single-line quoted YAML scalar starting at `line[i]`; leaves `i` after the closing quote.
    static func quoted(_ line: ArraySlice<UInt8>, from i: inout Int, line number: Int) throws -> [UInt8] {
        let delimiter = line[i]
        i += 1
        var out: [UInt8] = []
        while true {
            guard i < line.endIndex else {
                Crypto.wipe(&out)
                throw fail("a quoted scalar must close on its line (multi-line quoted scalars are not supported; use \\n or |)", line: number)
            }
            let byte = line[i]
            i += 1
            if delimiter == UInt8(ascii: "'") {
                if byte == UInt8(ascii: "'") {
                    if i < line.endIndex && line[i] == UInt8(ascii: "'") { out.append(byte); i += 1; continue }
                    return out
                }
                out.append(byte)
                continue
            }
            if byte == UInt8(ascii: "\"") { return out }
            guard byte == UInt8(ascii: "\\") else { out.append(byte); continue }
            guard i < line.endIndex else { continue } // reported as unclosed above
            let escape = line[i]
            i += 1
            let simple: [UInt8: UInt8] = [
                UInt8(ascii: "0"): 0, UInt8(ascii: "a"): 7, UInt8(ascii: "b"): 8, UInt8(ascii: "t"): 9, 0x09: 9,
                UInt8(ascii: "n"): 10, UInt8(ascii: "v"): 11, UInt8(ascii: "f"): 12, UInt8(ascii: "r"): 13,
                UInt8(ascii: "e"): 0x1B, 0x20: 0x20, UInt8(ascii: "\""): 0x22, UInt8(ascii: "/"): 0x2F, UInt8(ascii: "\\"): 0x5C,
            ]
            if let byte = simple[escape] { out.append(byte); continue }
            let width: Int
            switch escape {
            case UInt8(ascii: "x"): width = 2
            case UInt8(ascii: "u"): width = 4
            case UInt8(ascii: "U"): width = 8
            case UInt8(ascii: "N"): out += [0xC2, 0x85]; continue
            case UInt8(ascii: "_"): out += [0xC2, 0xA0]; continue
            case UInt8(ascii: "L"): out += [0xE2, 0x80, 0xA8]; continue
            case UInt8(ascii: "P"): out += [0xE2, 0x80, 0xA9]; continue
            default:
                Crypto.wipe(&out)
                throw fail("an unknown escape \\\(Character(Unicode.Scalar(escape))) in a double-quoted scalar", line: number)
            }
            guard i + width <= line.endIndex,
                  let code = UInt32(String(decoding: line[i..<i + width], as: UTF8.self), radix: 16),
                  let scalar = Unicode.Scalar(code) else {
                Crypto.wipe(&out)
                throw fail("a bad \\\(Character(Unicode.Scalar(escape))) escape in a double-quoted scalar", line: number)
            }
            i += width
            out += Array(String(Character(scalar)).utf8)
        }
    }
}
