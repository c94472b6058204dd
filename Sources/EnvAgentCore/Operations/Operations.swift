/// The use cases of EnvAgent, one function each. The CLI and the HTTP API call these and
/// nothing else; they take and return plain values and never print.
public struct Operations {
    public let store: Store
    public let identitySource: IdentitySource

    public init(store: Store, identitySource: IdentitySource) {
        self.store = store
        self.identitySource = identitySource
    }

    func identity() throws -> Identity { try identitySource.require() }

    /// How this process may use an environment: as a member (holding its key) or write-only
    /// (sealing to its public key; no identity, or one that is not a recipient).
    enum Access: Sendable {
        case member(EnvironmentKey)
        case writeOnly(EnvironmentPublicKey)

        var isWriteOnly: Bool {
            if case .writeOnly = self { true } else { false }
        }

        /// The VALUE field of secret `name` holding `value`, sealed the way this access can.
        func seal(_ value: SecretBytes, name: String, envVar: String) throws -> String {
            switch self {
            case .member(let key): try key.seal(value, name: name, envVar: envVar)
            case .writeOnly(let publicKey): try publicKey.seal(value, name: name, envVar: envVar)
            }
        }

        /// The length of what `seal` returns for a value of `valueLength` bytes.
        func sealedLength(valueLength: Int) -> Int {
            switch self {
            case .member: EnvironmentKey.sealedLength(valueLength: valueLength)
            case .writeOnly: EnvironmentPublicKey.sealedLength(valueLength: valueLength)
            }
        }
    }

    /// `not_found` when the environment does not exist; a configured but unusable identity
    /// fails `authentication_failed`; a recipients file this clone cannot trust fails
    /// `untrusted_change` before anything is sealed to its keys.
    func access(_ environment: String, in snapshot: StoreSnapshot, file trusted: RecipientsFile? = nil) throws -> Access {
        let header = try snapshot.requireHeader()
        let file = try trusted ?? trustedRecipients(environment, in: snapshot)
        guard !file.recipients.isEmpty else { throw Self.noEnvironment(environment) }
        // The public key decides membership, so a write-only writer with a protected identity
        // is never asked for its passphrase.
        if let publicKey = try identitySource.publicKey(), file.member(publicKey) != nil {
            let identity = try identitySource.require()
            return .member(try EnvironmentKey.unwrap(from: file.recipients, identity: identity,
                                                     storeID: header.storeID, environment: environment))
        }
        guard let publicKey = file.publicKey else { throw AgentError.internal("the recipients file of '\(environment)' has no public key") }
        return .writeOnly(EnvironmentPublicKey(key: publicKey, storeID: header.storeID, environment: environment))
    }

    /// The key of `environment` for this identity: `forbidden` when there is no identity or it
    /// is not a recipient, `not_found` when the environment does not exist, `untrusted_change`
    /// when its recipients file is not vouched for.
    func environmentKey(_ environment: String, in snapshot: StoreSnapshot) throws -> EnvironmentKey {
        try environmentKey(environment, in: snapshot, file: trustedRecipients(environment, in: snapshot))
    }

    /// The key of `environment` unwrapped from `file`, a recipients file already trusted.
    func environmentKey(_ environment: String, in snapshot: StoreSnapshot, file: RecipientsFile) throws -> EnvironmentKey {
        let header = try snapshot.requireHeader()
        guard !file.recipients.isEmpty else { throw Self.noEnvironment(environment) }
        guard let identity = try identitySource.load() else {
            throw AgentError(.forbidden, "no identity: only members of environment '\(environment)' can read or manage it (anyone can write values)",
                             details: [.init(loc: ["identity"], msg: "no identity configured", type: "missing")],
                             hint: "create one with `agent keygen` and ask a member to run `agent recipients add PUBLIC-KEY --env \(environment)`")
        }
        return try EnvironmentKey.unwrap(from: file.recipients, identity: identity, storeID: header.storeID,
                                         environment: environment)
    }

    /// `summary`, and a trailer naming the writer's public key when there is an identity, so
    /// `agent history` can show the recipient's label.
    func commitMessage(_ summary: String) -> String {
        guard let publicKey = try? identitySource.publicKey() else { return summary }
        return "\(summary)\n\n\(Self.writerTrailer) \(Identity.publicKeyText(publicKey))"
    }

    static let writerTrailer = "EnvAgent-Writer:"

    static func noEnvironment(_ environment: String) -> AgentError {
        AgentError(.notFound, "environment '\(environment)' does not exist",
                   details: [.init(loc: ["env"], msg: "no such environment", type: "not_found")],
                   hint: "list environments with `agent envs`; a first `agent set NAME --env \(environment)` creates it")
    }

    static func noSecret(_ name: String, _ environment: String) -> AgentError {
        AgentError(.notFound, "secret '\(name)' does not exist in environment '\(environment)'",
                   details: [.init(loc: ["name"], msg: "no such secret", type: "not_found")],
                   hint: "create it with `agent create \(name) --env \(environment)`, or list names with `agent list`")
    }
}
