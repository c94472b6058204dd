/// Input rules shared by the CLI and the API. Violations are `validation_error` naming the field.
public enum Validation {
    public static let maxValueBytes = 64 * 1024
    public static let maxNameLength = 128

    /// `[A-Za-z0-9_]`: a letter of either case (`| 0x20` folds A–Z onto a–z), a digit, `_`.
    @inline(__always) private static func isNameStart(_ b: UInt8) -> Bool {
        (b | 0x20) &- 0x61 < 26 || b &- 0x30 < 10 || b == 0x5F
    }

    /// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`
    /// (Both checks walk the UTF-8 bytes in place: they run for every line of an import, and
    /// of every read.)
    public static func isValidName(_ name: String) -> Bool {
        let utf8 = name.utf8
        return isValidName(utf8: utf8.span)
    }

    /// On a span: a generic walk over a `String.UTF8View` cost about five times as much, and
    /// every read checks every line's NAME.
    static func isValidName(utf8 bytes: Span<UInt8>) -> Bool {
        guard !bytes.isEmpty, bytes.count <= maxNameLength, isNameStart(bytes[0]) else { return false }
        for index in 1..<bytes.count {
            let byte = bytes[index]
            if !(isNameStart(byte) || byte == 0x2E || byte == 0x2D) { return false }
        }
        return true
    }

    /// Whether `byte` may be the `first` (a letter or `_`) or a later byte of an env var.
    @inline(__always) static func isEnvVarByte(_ byte: UInt8, first: Bool) -> Bool {
        isNameStart(byte) && !(first && byte &- 0x30 < 10)
    }

    /// `[A-Za-z_][A-Za-z0-9_]*`
    public static func isValidEnvVar(_ name: String) -> Bool {
        let utf8 = name.utf8
        return isValidEnvVar(utf8: utf8.span)
    }

    static func isValidEnvVar(utf8 bytes: Span<UInt8>) -> Bool {
        guard !bytes.isEmpty, bytes.count <= maxNameLength, isNameStart(bytes[0]), !(bytes[0] >= 0x30 && bytes[0] <= 0x39) else {
            return false
        }
        for index in 1..<bytes.count where !isNameStart(bytes[index]) { return false }
        return true
    }

    public static func name(_ name: String, field: String = "name") throws {
        guard isValidName(name) else {
            throw AgentError.validation(field, "'\(name.prefix(140))' is not a valid name: use letters, digits, '_', '.', '-' (first a letter, digit or '_'), at most 128", type: "invalid_name")
        }
    }

    public static func environment(_ environment: String) throws {
        guard isValidName(environment) else {
            throw AgentError.validation("env", "'\(environment.prefix(140))' is not a valid environment name: use letters, digits, '_', '.', '-'", type: "invalid_name")
        }
        guard !StoreFormat.reservedNames.contains(environment.lowercased()) else {
            throw AgentError.validation("env", "'\(environment)' is reserved: .envagent/\(environment.lowercased()) is a file of the store",
                                        type: "reserved_name",
                                        hint: "choose another environment name (reserved: \(StoreFormat.reservedNames.joined(separator: ", ")))")
        }
    }

    public static func envVar(_ envVar: String) throws {
        guard isValidEnvVar(envVar) else {
            throw AgentError.validation("env_var", "'\(envVar.prefix(140))' is not a valid environment variable name: [A-Za-z_][A-Za-z0-9_]*", type: "invalid_env_var")
        }
    }

    /// A recipient label: `[A-Za-z0-9_][A-Za-z0-9_.@+-]{0,63}`, and not a public key text.
    public static func recipientLabel(_ label: String) throws {
        let bytes = Array(label.utf8)
        guard let first = bytes.first, bytes.count <= 64, isNameStart(first),
              bytes.allSatisfy({ isNameStart($0) || $0 == 0x2E || $0 == 0x2D || $0 == 0x40 || $0 == 0x2B }),
              !label.hasPrefix(Identity.publicKeyPrefix)
        else {
            throw AgentError.validation("label", "'\(label.prefix(80))' is not a valid label: use letters, digits, '_', '.', '-', '@', '+' (at most 64, first a letter, digit or '_')",
                                        type: "invalid_name")
        }
    }

    /// The env var a secret gets: the explicit one, else NAME when NAME is a valid env var.
    public static func resolveEnvVar(name: String, explicit: String?) throws -> String {
        if let explicit {
            try envVar(explicit)
            return explicit
        }
        guard isValidEnvVar(name) else {
            throw AgentError.validation("env_var", "'\(name)' is not a valid environment variable name, so an env var is required", type: "missing",
                                        hint: "pass --env-var VAR (e.g. --env-var \(suggestedEnvVar(for: name)))")
        }
        return name
    }

    static func suggestedEnvVar(for name: String) -> String {
        var out = String(name.uppercased().map { ($0.isLetter || $0.isNumber) && $0.isASCII ? $0 : "_" })
        if out.first?.isNumber ?? true { out = "_" + out }
        return out
    }

    /// Not empty unless `allowsEmpty`; UTF-8, no NUL, at most 64 KiB. Messages never include
    /// the value.
    public static func value(_ value: SecretBytes, allowsEmpty: Bool) throws {
        guard value.count > 0 || allowsEmpty else {
            throw AgentError.validation("value", "the value is empty", type: "empty_value",
                                        hint: "an unset variable or an empty prompt? To store an empty value on purpose, pass --allow-empty (API: \"allow_empty\": true)")
        }
        try self.value(value)
    }

    /// UTF-8, no NUL, at most 64 KiB. Messages never include the value.
    public static func value(_ value: SecretBytes) throws {
        guard value.count <= maxValueBytes else {
            throw AgentError.validation("value", "the value is \(value.count) bytes; at most \(maxValueBytes) are allowed", type: "string_too_long")
        }
        try value.withBytes { (bytes: Span<UInt8>) throws(AgentError) in
            // One pass for NUL and non-ASCII; only a value with non-ASCII bytes needs the UTF-8 check.
            var ascii = true
            for index in bytes.indices {
                if bytes[index] == 0 { throw AgentError.validation("value", "the value contains a NUL byte", type: "invalid_value") }
                if bytes[index] >= 0x80 { ascii = false }
            }
            guard ascii || (try? UTF8Span(validating: bytes)) != nil else {
                throw AgentError.validation("value", "the value is not valid UTF-8", type: "string_type")
            }
        }
    }
}

extension Validation {
    /// Mapping a value to a variable of `ExecutionEnvVars` is refused for a write-only writer
    /// (anyone who can push), and for a member unless `allowed` (an explicit flag).
    public static func executionEnvVar(_ envVar: String, writeOnly: Bool, allowed: Bool) throws {
        guard let effect = ExecutionEnvVars.effect(of: envVar), writeOnly || !allowed else { return }
        if writeOnly {
            throw AgentError.validation("env_var", "\(envVar) changes \(effect), so a value written without membership (write-only) may not set it",
                                        type: "restricted_env_var", hint: "ask a member of the environment to set it")
        }
        throw AgentError.validation("env_var", "\(envVar) changes \(effect); a secret is mapped to it only explicitly",
                                    type: "restricted_env_var",
                                    hint: "if this secret is meant to set \(envVar), pass --allow-exec-env-var (API: \"allow_exec_env_var\": true)")
    }
}
