/// The rules a secrets file must pass to be read. Anyone who can push writes this file, so no
/// line is trusted to be one agent wrote: it must have five fields, its NAME and ENV_VAR must
/// pass the write rules (an ENV_VAR reaches `render --format sh`, made for `eval`, as it is),
/// no NAME or ENV_VAR may appear on two lines, and a write-only value may not set a variable of
/// `ExecutionEnvVars`. Reads refuse a file that breaks any of them (`internal_error` naming
/// each line); `verify` lists them. A value that does not open is another matter: it fails
/// alone (`bad_ciphertext`).
extension SecretsFile {
    /// One broken rule: the secret (its line's NAME, made printable), what is wrong with it,
    /// and a machine type (`bad_line`, `duplicate_name`, `duplicate_env_var`, `restricted_env_var`).
    public struct Problem: Sendable, Equatable {
        public let name: String
        public let message: String
        public let type: String
    }

    /// Every broken rule, in file order (runs on every read: one pass, one set).
    public var problems: [Problem] {
        var found: [Problem] = []
        var envVars = Set<String>(minimumCapacity: lines.count)
        var previous: String?
        for line in lines {
            found += Self.problems(of: line)
            if line.name == previous { // sorted by name, so a NAME twice is on adjacent lines
                found.append(Problem(name: Self.shown(line.name), message: "appears on more than one line", type: "duplicate_name"))
            }
            previous = line.name
            guard line.isWellFormed, Validation.isValidEnvVar(utf8: line.envVarBytes.span) else { continue }
            let envVar = line.envVar
            if !envVars.insert(envVar).inserted, let owner = lines.first(where: { $0.envVar == envVar && $0.name != line.name }) {
                found.append(Problem(name: Self.shown(line.name), message: "maps to env var \(envVar), as secret '\(Self.shown(owner.name))' does",
                                     type: "duplicate_env_var"))
            }
        }
        return found
    }

    /// This file, or `internal_error` naming every problem.
    func checked(environment: String) throws -> SecretsFile {
        let problems = problems
        guard problems.isEmpty else { throw Self.unreadable(problems, environment: environment) }
        return self
    }

    /// Whether `line` passes the rules of a single line (five fields, its NAME, its ENV_VAR, a
    /// write-only value's ENV_VAR), without building messages: most lines pass, and only those
    /// that do not get `problems(of:)`.
    static func isSound(_ line: SecretLine) -> Bool {
        guard line.isWellFormed, Validation.isValidName(line.name), Validation.isValidEnvVar(utf8: line.envVarBytes.span) else {
            return false
        }
        return line.valueKind != .sealed || !ExecutionEnvVars.contains(line.envVar)
    }

    /// The rules of a single line that `line` breaks.
    static func problems(of line: SecretLine) -> [Problem] {
        guard !isSound(line) else { return [] }
        let name = shown(line.name)
        guard Validation.isValidName(line.name) else {
            return [Problem(name: name, message: "has a name that breaks the NAME rule ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})", type: "bad_line")]
        }
        guard line.isWellFormed else {
            // An ENV_VAR with a space in it makes a line of more fields.
            return [Problem(name: name, message: "has a line without five fields (NAME ENV_VAR CREATED UPDATED VALUE)", type: "bad_line")]
        }
        let envVar = line.envVar
        guard Validation.isValidEnvVar(envVar) else {
            // Not quoted: a hand-edited field may hold anything, even a value.
            return [Problem(name: name, message: "maps to an env var that is not a valid variable name ([A-Za-z_][A-Za-z0-9_]*)", type: "bad_line")]
        }
        let effect = ExecutionEnvVars.effect(of: envVar) ?? ""
        return [Problem(name: name, message: "is a write-only value mapped to \(envVar), which changes \(effect): only members may set it",
                        type: "restricted_env_var")]
    }

    /// `internal_error` naming the first problem in its message and each in `errors`.
    static func unreadable(_ problems: [Problem], environment: String) -> AgentError {
        let first = problems[0]
        let more = problems.count == 1 ? "" : " (and \(problems.count - 1) more problem\(problems.count == 2 ? "" : "s"))"
        return AgentError(.internalError,
                          "secret '\(first.name)' in environment '\(environment)' \(first.message)\(more); agent reads none of '\(environment)' until that is fixed",
                          details: problems.map { .init(loc: [environment, $0.name], msg: $0.message, type: $0.type) },
                          hint: "`agent verify --env \(environment)` lists each problem with the commit that made it; remove a line with `agent delete NAME --env \(environment)`, or revert that commit")
    }

    /// A NAME read from the file, fit for a message: printable ASCII, at most 128 characters.
    static func shown(_ name: String) -> String {
        guard !Validation.isValidName(name) else { return name }
        return String(decoding: name.utf8.prefix(128).map { $0 >= 0x20 && $0 < 0x7F ? $0 : UInt8(ascii: "?") }, as: UTF8.self)
    }
}
