#if canImport(Glibc)
import Glibc
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
    /// A flat YAML map, `"VAR": "value"` lines (double-quoted, escaped: any YAML reader).
    case yaml
    /// A Kubernetes `Secret` manifest (`v1`, type `Opaque`) with the values in `stringData`.
    case k8s
    /// docker's `--env-file` lines, `VAR=value` taken verbatim: a value with a newline or CR
    /// cannot be carried and is refused.
    case docker

    /// The formats whose file frames the variables (JSON's braces, the manifest's header).
    var isFramed: Bool { self == .json || self == .yaml || self == .k8s }
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
    static let quote = UInt8(ascii: "'"), doubleQuote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\")
    static let dollar = UInt8(ascii: "$"), backtick = UInt8(ascii: "`"), newline = UInt8(ascii: "\n")
    static let cr = UInt8(ascii: "\r"), brace = UInt8(ascii: "{")

    public static func render(_ entries: [RenderEntry], format: RenderFormat, manifestName: String = "") throws -> SecretBytes {
        var out: [UInt8] = []
        do {
            for (index, entry) in entries.enumerated() {
                try entry.value.withBytes { value in
                    try append(name: entry.name, envVar: Array(entry.envVar.utf8)[...], value: value, format: format,
                               first: index == 0, to: &out)
                }
            }
        } catch {
            Crypto.wipe(&out)
            throw error
        }
        return framed([SecretBytes(out)], format: format, manifestName: manifestName)
    }

    /// Appends one variable in `format` to `out` (for JSON an object member, after a comma
    /// unless it is the `first`), growing `out` without leaving copies of values behind.
    static func append(name: String, envVar: ArraySlice<UInt8>, value: Span<UInt8>, format: RenderFormat, first: Bool,
                       to out: inout [UInt8]) throws {
        // Worst case: JSON writes a control byte as 6 (`\u00XX`); YAML at most 4 per byte.
        Crypto.reserveWiping(&out, extra: envVar.count + 6 * value.count + 16)
        switch format {
        case .env:
            try appendEnvLine(name: name, envVar: envVar, value: value, to: &out)
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
        case .yaml, .k8s:
            if format == .k8s { out += "  ".utf8 }
            out.append(doubleQuote)
            out += envVar // [A-Za-z_][A-Za-z0-9_]*: quoted so `Y`, `ON`, `NO` stay strings in YAML 1.1
            out += "\": ".utf8
            appendYAMLQuoted(value, to: &out)
            out.append(newline)
        case .docker:
            try appendDockerLine(name: name, envVar: envVar, value: value, to: &out)
        }
    }

    /// A YAML double-quoted scalar: `"` and `\` escaped, every control character, C1 control,
    /// U+2028/U+2029 (line breaks to YAML 1.1 readers), U+FEFF and U+FFFE/U+FFFF as escapes;
    /// the rest (valid UTF-8, checked on every write) as it is.
    static func appendYAMLQuoted(_ value: Span<UInt8>, to out: inout [UInt8]) {
        let hex = Array("0123456789ABCDEF".utf8)
        out.append(doubleQuote)
        var i = 0
        while i < value.count {
            let byte = value[i]
            switch byte {
            case doubleQuote, backslash: out.append(backslash); out.append(byte)
            case newline: out += "\\n".utf8
            case UInt8(ascii: "\t"): out += "\\t".utf8
            case cr: out += "\\r".utf8
            case 0..<0x20, 0x7F: out += [backslash, UInt8(ascii: "x"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            case 0xC2 where i + 1 < value.count && (0x80...0x9F).contains(value[i + 1]):
                let code = value[i + 1]
                out += [backslash, UInt8(ascii: "x"), hex[Int(code >> 4)], hex[Int(code & 0xF)]]
                i += 1
            case 0xE2 where i + 2 < value.count && value[i + 1] == 0x80 && (value[i + 2] == 0xA8 || value[i + 2] == 0xA9):
                out += value[i + 2] == 0xA8 ? "\\u2028".utf8 : "\\u2029".utf8
                i += 2
            case 0xEF where i + 2 < value.count && ((value[i + 1] == 0xBB && value[i + 2] == 0xBF)
                                                    || (value[i + 1] == 0xBF && value[i + 2] >= 0xBE)):
                out += value[i + 1] == 0xBB ? "\\uFEFF".utf8 : (value[i + 2] == 0xBE ? "\\uFFFE".utf8 : "\\uFFFF".utf8)
                i += 2
            default: out.append(byte)
            }
            i += 1
        }
        out.append(doubleQuote)
    }

    /// The longest line docker's env-file reader (Go's `bufio.Scanner`) takes, without its LF.
    static let dockerMaxLine = 64 * 1024 - 1

    /// `VAR=value` for docker's `--env-file`, which takes the value verbatim to the end of the
    /// line: a newline or CR cannot be carried (and a line over 64 KiB is not read).
    static func appendDockerLine(name: String, envVar: ArraySlice<UInt8>, value: Span<UInt8>, to out: inout [UInt8]) throws {
        if Bytes.contains(newline, in: value) { throw unrepresentable(name, envVar, "a newline", in: "a docker --env-file") }
        if Bytes.contains(cr, in: value) { throw unrepresentable(name, envVar, "a carriage return (CR)", in: "a docker --env-file") }
        guard envVar.count + 1 + value.count <= dockerMaxLine else {
            throw unrepresentable(name, envVar, "more than docker's 64 KiB per line", in: "a docker --env-file")
        }
        out += envVar
        out.append(UInt8(ascii: "="))
        Bytes.append(value, to: &out)
        out.append(newline)
    }

    /// The `metadata.name` of a Kubernetes object: an RFC 1123 subdomain (lowercase letters,
    /// digits, `-`, `.`; alphanumeric at both ends; at most 253).
    public static func isValidManifestName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        func isAlnum(_ b: UInt8) -> Bool { (0x61...0x7A).contains(b) || (0x30...0x39).contains(b) }
        guard let first = bytes.first, let last = bytes.last, bytes.count <= 253, isAlnum(first), isAlnum(last) else { return false }
        return bytes.allSatisfy { isAlnum($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") }
    }

    /// The whole file from runs of variables rendered separately (each starting with its
    /// `first` variable), in order: JSON adds the braces and the commas between runs.
    /// `manifestName` is the k8s Secret's `metadata.name` (checked by the caller).
    static func framed(_ parts: [SecretBytes], format: RenderFormat, manifestName: String = "") -> SecretBytes {
        let json = format == .json
        let parts = format.isFramed ? parts.filter { $0.count > 0 } : parts
        var header: [UInt8] = []
        var footer: [UInt8] = []
        switch format {
        case .json: (header, footer) = (Array("{".utf8), Array("}\n".utf8))
        case .yaml: if parts.isEmpty { footer = Array("{}\n".utf8) }
        case .k8s:
            header = Array("apiVersion: v1\nkind: Secret\nmetadata:\n  name: \(manifestName)\ntype: Opaque\nstringData:".utf8)
            header += parts.isEmpty ? Array(" {}\n".utf8) : [newline]
        default: break
        }
        var out: [UInt8] = []
        out.reserveCapacity(parts.reduce(header.count + footer.count + parts.count) { $0 + $1.count })
        out += header
        for (index, part) in parts.enumerated() {
            if json && index > 0 { out.append(UInt8(ascii: ",")) }
            part.append(to: &out)
        }
        out += footer
        return SecretBytes(out) // takes over the buffer, wiped when released
    }

    /// `KEY='value'`; `KEY="value"` when the value holds a single quote but nothing a double-quote
    /// reader would expand; otherwise an error naming the key and the character.
    static func appendEnvLine(name: String, envVar: ArraySlice<UInt8>, value: Span<UInt8>, to out: inout [UInt8]) throws {
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
        Bytes.append(value, to: &out)
        out.append(delimiter)
        out.append(newline)
    }

    private static func unrepresentable(_ name: String, _ envVarBytes: ArraySlice<UInt8>, _ what: String,
                                        in file: String = "a .env file") -> AgentError {
        let envVar = String(decoding: envVarBytes, as: UTF8.self)
        let why = file == "a .env file" ? ", which .env parsers read differently" : ", which it cannot carry"
        return AgentError(.validationError,
                   "cannot write secret '\(name)' (\(envVar)) to \(file): its value contains \(what)\(why)",
                   details: [.init(loc: ["secrets", name], msg: "value contains \(what)", type: "unrepresentable_value")],
                   hint: "use --format sh, json, yaml or k8s, or `agent run` to pass it to a process directly")
    }

    /// POSIX single quoting: `'…'` with each `'` written as `'\''`.
    static func appendShellQuoted(_ value: Span<UInt8>, to out: inout [UInt8]) {
        out.append(quote)
        for index in value.indices {
            let byte = value[index]
            if byte == quote { out += "'\\''".utf8 } else { out.append(byte) }
        }
        out.append(quote)
    }
}
