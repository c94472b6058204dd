/// What may be shown about a secret: never its value.
public struct SecretMetadata: Codable, Sendable, Equatable {
    public var name: String
    public var envVar: String
    public var environment: String
    public var maskedValue: String
    public var createdAt: String
    public var updatedAt: String
    /// The value was last written without membership (sealed to the environment's public key
    /// by anyone who can push); `agent adopt` makes it a member's value.
    public var writeOnly: Bool
    /// Set (only by `list`) when the value does not open: why, never the value.
    public var error: String?

    enum CodingKeys: String, CodingKey {
        case name
        case envVar = "env_var"
        case environment
        case maskedValue = "masked_value"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case writeOnly = "write_only"
        case error
    }

    init(line: SecretLine, environment: String, maskedValue: String) {
        name = line.name
        envVar = line.envVar
        self.environment = environment
        self.maskedValue = maskedValue
        createdAt = line.createdAt
        updatedAt = line.updatedAt
        writeOnly = line.valueKind == .sealed
    }
}

/// An environment and how many secrets it holds.
public struct EnvironmentSummary: Codable, Sendable, Equatable {
    public var name: String
    public var secretCount: Int
    public var recipientCount: Int

    enum CodingKeys: String, CodingKey {
        case name
        case secretCount = "secret_count"
        case recipientCount = "recipient_count"
    }
}

/// One commit in `agent history`.
public struct HistoryEntry: Codable, Sendable, Equatable {
    public var commit: String
    public var date: String
    public var author: String
    /// The writer's recipient label when known (see `Operations.history`).
    public var recipient: String?
    public var action: String
    public var summary: String
}

/// The outcome of a write: what the secret looks like now, and whether a commit was made.
public struct WriteResult: Sendable {
    public var metadata: SecretMetadata
    /// False when the value was already the stored one (nothing committed).
    public var changed: Bool
    /// True when written write-only (sealed to the environment's public key by a non-member).
    public var sealed: Bool
}

/// The outcome of `import`.
public struct ImportResult: Codable, Sendable {
    public var environment: String
    public var created: [String]
    public var updated: [String]
    public var unchanged: [String]
    public var commit: String?
    /// True when written write-only (sealed to the environment's public key by a non-member).
    public var sealed: Bool
    /// What the reader noticed and let pass (a key set twice); never a value.
    public var warnings: [String] = []
}
