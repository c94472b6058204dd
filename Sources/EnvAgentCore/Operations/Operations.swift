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

    /// The key of `environment` for this identity: `forbidden` when not a recipient,
    /// `not_found` when the environment does not exist.
    func environmentKey(_ environment: String, in snapshot: StoreSnapshot) throws -> EnvironmentKey {
        let header = try snapshot.requireHeader()
        let recipients = try snapshot.recipients(environment)
        guard !recipients.isEmpty else { throw Self.noEnvironment(environment) }
        return try EnvironmentKey.unwrap(from: recipients, identity: identity(), storeID: header.storeID,
                                         environment: environment)
    }

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
