/// The render targets file, `.envagent/targets`: committed configuration naming the decrypted
/// files this repository's checkouts keep current (`agent render --targets`, the post-checkout,
/// post-merge and post-rewrite hooks, and later `agent watch`). See README "Render targets".
///
/// ```
/// # comments start with # or ; (and ` # …` after a value)
/// [target app]                 one section per target; the name is a label
/// environment = dev            required
/// output = .env                required: relative to the working tree, or absolute
/// names = all                  `all` (default) or secret NAMEs separated by spaces
/// format = env                 env (default) | sh | json | yaml | k8s (named after the target) | docker
/// mode = 0600                  octal file mode (default 0600)
/// on-change = systemctl reload app   optional: run by `agent watch` after the file changed
/// ```
///
/// Anyone who can push writes this file, so a target that reaches beyond a private file in the
/// work tree takes effect only with this machine's approval (`TargetApproval`).
public struct RenderTargets: Sendable, Equatable {
    public static let path = ".envagent/targets"

    public struct Target: Sendable, Equatable {
        public var name: String
        public var environment: String
        public var output: String
        /// Secret names in this order; empty means every secret of the environment.
        public var names: [String]
        public var format: RenderFormat
        public var mode: UInt32
        public var onChange: String?
        /// Line of the `[target …]` header.
        public var line: Int
    }

    public var targets: [Target]

    public init(targets: [Target]) { self.targets = targets }

    static let keys = ["environment", "output", "names", "format", "mode", "on-change"]

    /// Parses the file; any problem is `invalid_request` naming the line.
    public static func parse(_ bytes: [UInt8]) throws -> RenderTargets {
        var targets: [Target] = []
        var seen: Set<String> = []
        var current: (target: Target, keys: Set<String>)?
        func fail(_ line: Int, _ message: String) -> AgentError {
            AgentError(.invalidRequest, "\(path) line \(line): \(message)",
                       details: [.init(loc: [path, "line \(line)"], msg: message, type: "malformed_line")],
                       hint: "see README \"Render targets\" for the format")
        }
        func finish() throws {
            guard let (target, keys) = current else { return }
            for required in ["environment", "output"] where !keys.contains(required) {
                throw fail(target.line, "target '\(target.name)' has no \(required)")
            }
            if let other = targets.first(where: { $0.output == target.output }) {
                throw fail(target.line, "target '\(target.name)' writes \(target.output), like target '\(other.name)' (line \(other.line))")
            }
            targets.append(target)
        }
        let text = String(decoding: bytes, as: UTF8.self)
        for (offset, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let number = offset + 1
            let line = withoutComment(raw).trimmingWhitespace()
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") {
                guard line.hasSuffix("]") else { throw fail(number, "a section header must end with ]") }
                let words = line.dropFirst().dropLast().split(separator: " ", omittingEmptySubsequences: true)
                guard words.count == 2, words[0] == "target" else {
                    throw fail(number, "expected [target NAME], found \(line.prefix(80))")
                }
                let name = String(words[1])
                guard Validation.isValidName(name) else { throw fail(number, "'\(name.prefix(80))' is not a valid target name") }
                guard seen.insert(name).inserted else { throw fail(number, "target '\(name)' is defined twice") }
                try finish()
                current = (Target(name: name, environment: "", output: "", names: [], format: .env, mode: 0o600,
                                  onChange: nil, line: number), [])
                continue
            }
            guard let equals = line.firstIndex(of: "=") else { throw fail(number, "expected KEY = VALUE") }
            let key = line[..<equals].trimmingWhitespace()
            let value = line[line.index(after: equals)...].trimmingWhitespace()
            guard current != nil else { throw fail(number, "'\(key.prefix(40))' comes before any [target NAME] section") }
            guard keys.contains(key) else {
                throw fail(number, "unknown key '\(key.prefix(40))' (expected one of \(keys.joined(separator: ", ")))")
            }
            guard current!.keys.insert(key).inserted else { throw fail(number, "\(key) is set twice in target '\(current!.target.name)'") }
            guard !value.isEmpty else { throw fail(number, "\(key) has no value") }
            switch key {
            case "environment":
                guard Validation.isValidName(value) else { throw fail(number, "'\(value.prefix(80))' is not a valid environment name") }
                current!.target.environment = value
            case "output":
                current!.target.output = try checkedOutput(value) { fail(number, $0) }
            case "names":
                let names = value.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "," }).map(String.init)
                if names == ["all"] { current!.target.names = []; break }
                for name in names where name == "all" || !Validation.isValidName(name) {
                    throw fail(number, name == "all" ? "`all` cannot be combined with names" : "'\(name.prefix(80))' is not a valid secret name")
                }
                guard Set(names).count == names.count else { throw fail(number, "a name is listed twice") }
                current!.target.names = names
            case "format":
                guard let format = RenderFormat(rawValue: value) else {
                    throw fail(number, "format must be \(RenderFormat.allCases.map(\.rawValue).joined(separator: ", ")), not '\(value.prefix(40))'")
                }
                current!.target.format = format
            case "mode":
                guard (3...4).contains(value.count), let mode = UInt32(value, radix: 8), mode <= 0o777 else {
                    throw fail(number, "mode must be octal permission bits such as 0600, not '\(value.prefix(40))'")
                }
                current!.target.mode = mode
            default: // on-change
                current!.target.onChange = value
            }
        }
        try finish()
        return RenderTargets(targets: targets)
    }

    /// A line without its trailing comment: a `#` after a space or tab starts one (so a `#`
    /// inside a word, as in `a#b`, stays part of the value).
    static func withoutComment(_ value: Substring) -> Substring {
        var previous: Character = " "
        for index in value.indices {
            let character = value[index]
            if character == "#" && (previous == " " || previous == "\t") { return value[..<index] }
            previous = character
        }
        return value
    }

    private static func checkedOutput(_ value: String, _ fail: (String) -> AgentError) throws -> String {
        guard !value.utf8.contains(0) else { throw fail("output contains NUL") }
        if value.hasPrefix("/") {
            let last = value.split(separator: "/", omittingEmptySubsequences: false).last ?? ""
            guard !last.isEmpty, last != ".", last != ".." else { throw fail("output must name a file") }
            return value
        }
        let components = value.split(separator: "/", omittingEmptySubsequences: true)
        guard !components.contains("..") else { throw fail("a relative output must stay inside the working tree (no ..)") }
        let normalized = components.filter { $0 != "." }.joined(separator: "/")
        guard !normalized.isEmpty, !value.hasSuffix("/") else { throw fail("output must name a file") }
        let first = normalized.split(separator: "/").first.map(String.init)
        guard first != ".git", first != StoreFormat.folder else {
            throw fail("output cannot be inside \(first!)/")
        }
        return normalized
    }

    /// Whether `path` (relative to the working tree) is one of the targets' outputs.
    public func isOutput(_ path: String) -> Bool {
        targets.contains { $0.output == path }
    }
}
