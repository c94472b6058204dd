/// `agent edit`: an environment's values as one `.env` text to change in an editor, and the
/// edited text applied as ONE commit through `write` — the same path as create, update and
/// import.
///
/// Keys are env vars (unique within an environment, and what a `.env` file names). A line whose
/// key is an existing secret's env var updates that secret when its value changed; a new key
/// creates a secret of that name; a readable secret whose line is gone is deleted. A value the
/// editor cannot be shown (a write-only writer reads no value; a value that does not open) is
/// written as a comment and stays as it is unless a `KEY=value` line for it is added.
extension Operations {
    /// What `beginEdit` showed: the text, and the values it stood for.
    public struct EditSession: Sendable {
        public let environment: String
        /// The file to put in the editor (values in clear: keep it in a private place).
        public let text: SecretBytes
        /// True when this identity is not a member: no value is shown, nothing can be deleted.
        public let writeOnly: Bool
        /// env var → the secret and its value, for every value shown.
        let shown: [String: (name: String, value: SecretBytes)]
        /// env var → secret name, for every secret listed only as a comment.
        let hidden: [String: String]
    }

    /// The environment's secrets as an editable `.env` text (`not_found` for an environment
    /// that does not exist).
    public func beginEdit(environment: String) throws -> EditSession {
        try Validation.environment(environment)
        let snapshot = try store.snapshot()
        let access = try access(environment, in: snapshot)
        let lines = try snapshot.secrets(environment).lines
        var shown: [String: (name: String, value: SecretBytes)] = [:]
        var hidden: [String: String] = [:]
        var out: [UInt8] = []
        defer { Crypto.wipe(&out) }
        out += """
            # agent edit: environment '\(environment)'. One KEY=value line per secret (KEY is its env var).
            # Save and quit to apply every change as one commit: a new line creates a secret, a changed
            # value updates it, a removed line deletes it. Exit the editor with an error (vim: :cq) or
            # save nothing new to change nothing. Values are read as in a .env file ("…" knows \\n \\" \\\\ \\$).

            """.utf8
        if access.isWriteOnly {
            out += """
                # You are not a member of '\(environment)': its values are write-only for you. Add a line
                # KEY=value to set one; secrets cannot be deleted here.

                """.utf8
        }
        for line in lines {
            var value: SecretBytes?
            if case .member(let key) = access { value = try? key.open(line) }
            guard let value else {
                hidden[line.envVar] = line.name
                let why = access.isWriteOnly ? "write-only: you cannot read it" : "its stored value does not open (see `agent verify`)"
                out += "# \(line.envVar)=…  (\(why); kept unless you add a line \(line.envVar)=new-value)\n".utf8
                continue
            }
            shown[line.envVar] = (line.name, value)
            if line.name != line.envVar { out += "# secret \(line.name)\n".utf8 }
            value.withBytes { Self.appendEditLine(envVar: line.envVar, value: $0, to: &out) }
        }
        let text = SecretBytes(out)
        out = []
        return EditSession(environment: environment, text: text, writeOnly: access.isWriteOnly, shown: shown, hidden: hidden)
    }

    /// `KEY='value'` when the value holds nothing a reader could take differently, else
    /// `KEY="…"` with `\\ \" \$ \n \r` escaped: both read back unchanged by `DotEnv.parse`.
    static func appendEditLine(envVar: String, value: Span<UInt8>, to out: inout [UInt8]) {
        Crypto.reserveWiping(&out, extra: envVar.utf8.count + 2 * value.count + 4)
        out += envVar.utf8
        out.append(UInt8(ascii: "="))
        let plain = !value.indices.contains { [UInt8(ascii: "'"), UInt8(ascii: "\\"), UInt8(ascii: "$"), 10, 13].contains(value[$0]) }
        if plain {
            out.append(UInt8(ascii: "'"))
            Bytes.append(value, to: &out)
            out.append(UInt8(ascii: "'"))
        } else {
            out.append(UInt8(ascii: "\""))
            for index in value.indices {
                let byte = value[index]
                switch byte {
                case 10: out += "\\n".utf8
                case 13: out += "\\r".utf8
                case UInt8(ascii: "\\"), UInt8(ascii: "\""), UInt8(ascii: "$"): out += [UInt8(ascii: "\\"), byte]
                default: out.append(byte)
                }
            }
            out.append(UInt8(ascii: "\""))
        }
        out.append(10)
    }

    /// Applies the edited text of `session` as one commit (none when nothing changed). A
    /// malformed line fails `invalid_request` naming it (type `malformed_line`), before anything
    /// is written. Secrets changed by someone else since `beginEdit` keep that change unless
    /// this edit changed the same line.
    public func applyEdit(_ session: EditSession, edited: [UInt8], allowingExecutionEnvVars: Bool = false) throws -> EditResult {
        let environment = session.environment
        let assignments = try DotEnv.parse(edited)
        var requests: [WriteRequest] = []
        var kinds: [String: String] = [:] // name → created/updated
        var lineOf: [String: Int] = [:]   // name → line in the edited text
        var present: Set<String> = []
        var unchanged = 0
        for assignment in assignments {
            try Self.checkValue(assignment)
            present.insert(assignment.key)
            lineOf[assignment.key] = assignment.line
            if let shown = session.shown[assignment.key] {
                if shown.value.matches(assignment.value) { unchanged += 1; continue }
                requests.append(WriteRequest(name: shown.name, envVar: assignment.key, value: assignment.value,
                                             allowsExecutionEnvVar: allowingExecutionEnvVars))
                kinds[shown.name] = "updated"
            } else if let name = session.hidden[assignment.key] {
                requests.append(WriteRequest(name: name, envVar: assignment.key, value: assignment.value,
                                             allowsExecutionEnvVar: allowingExecutionEnvVars))
                kinds[name] = "updated"
            } else {
                requests.append(WriteRequest(name: assignment.key, envVar: assignment.key, value: assignment.value,
                                             allowsExecutionEnvVar: allowingExecutionEnvVars))
                kinds[assignment.key] = "created"
            }
        }
        let written = Set(requests.map(\.name))
        // A removed line deletes its secret, unless a new line of the same name takes it over
        // (the secret is then written with the new env var).
        let deletions = session.shown.filter { !present.contains($0.key) }.map(\.value.name).filter { !written.contains($0) }.sorted()
        if !deletions.isEmpty && session.writeOnly {
            throw AgentError(.forbidden, "only members of environment '\(environment)' can delete its secrets")
        }
        for request in requests where kinds[request.name] == "created" {
            if let owner = session.shown.first(where: { $0.value.name == request.name && present.contains($0.key) })?.key
                ?? session.hidden.first(where: { $0.value == request.name })?.key {
                let line = lineOf[request.name] ?? 0
                throw AgentError(.validationError, "line \(line): \(request.name) is the name of the secret whose env var is \(owner)",
                                 details: [.init(loc: ["file", "line \(line)", request.name], msg: "name taken by another env var", type: "duplicate_name")],
                                 hint: "change that secret's line instead, or remove it to rename the variable")
            }
        }
        var result = EditResult(environment: environment, created: [], updated: [], deleted: deletions, unchanged: unchanged,
                                commit: nil, sealed: false)
        guard !requests.isEmpty || !deletions.isEmpty else { return result }
        let outcome = try write(requests, mode: .set, environment: environment, deleting: deletions, message: .edit)
        for (line, changed) in outcome.lines {
            if !changed { result.unchanged += 1 }
            else if kinds[line.name] == "created" { result.created.append(line.name) }
            else { result.updated.append(line.name) }
        }
        result.commit = outcome.commit?.hex
        result.sealed = outcome.sealed
        return result
    }

    /// A value's own rules, reported with its key and line.
    private static func checkValue(_ assignment: DotEnv.Assignment) throws {
        do { try Validation.value(assignment.value) } catch var error as AgentError {
            let msg = error.details.first?.msg ?? error.message
            error.message = "line \(assignment.line) (\(assignment.key)): \(msg)"
            error.details = [.init(loc: ["file", "line \(assignment.line)", assignment.key], msg: msg,
                                   type: error.details.first?.type ?? "invalid_value")]
            throw error
        }
    }
}

/// What `agent edit` changed.
public struct EditResult: Codable, Sendable {
    public var environment: String
    public var created: [String]
    public var updated: [String]
    public var deleted: [String]
    /// Lines left as they were.
    public var unchanged: Int
    /// The commit made, nil when nothing changed.
    public var commit: String?
    /// True when written write-only (sealed to the environment's public key by a non-member).
    public var sealed: Bool

    public var changed: Bool { commit != nil }

    public init(environment: String, created: [String] = [], updated: [String] = [], deleted: [String] = [],
                unchanged: Int = 0, commit: String? = nil, sealed: Bool = false) {
        self.environment = environment
        self.created = created
        self.updated = updated
        self.deleted = deleted
        self.unchanged = unchanged
        self.commit = commit
        self.sealed = sealed
    }
}
