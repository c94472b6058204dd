/// Finishing a sync that stopped on conflicts: a decision per secret, then the merge commit.
extension Operations {
    public struct ResolveResult: Codable, Sendable, Equatable {
        public var environment: String
        public var name: String
        public var decision: String
        /// Conflicts still without a decision (`ENV/NAME`).
        public var remaining: [String]
        /// The merge commit, once every conflict has a decision.
        public var merged: String?
    }

    /// Records `decision` for one conflicting secret, or (with `value`) writes that value on
    /// this side and keeps it. When no conflict is left, commits the merge (push it with
    /// `agent sync`).
    public func resolve(name: String, environment: String, decision: MergeDecision?, value: SecretBytes?) throws -> ResolveResult {
        try Validation.name(name)
        try Validation.environment(environment)
        let repository = store.repository
        guard var state = try MergeState.load(in: repository) else {
            throw AgentError(.notFound, "no sync is waiting for conflict decisions", hint: "run `agent sync`")
        }
        guard let index = state.conflicts.firstIndex(where: { $0.environment == environment && $0.name == name }) else {
            let names = state.conflicts.map { "\($0.environment)/\($0.name)" }.joined(separator: ", ")
            throw AgentError(.notFound, "'\(name)' in environment '\(environment)' is not a conflict of the stopped sync (conflicts: \(names))",
                             details: [.init(loc: ["name"], msg: "not a conflict", type: "not_found")])
        }
        var chosen = decision ?? .ours
        if let value {
            _ = try set(WriteRequest(name: name, value: value), environment: environment)
            chosen = .ours
        }
        state.conflicts[index].decision = chosen
        try state.save(in: repository)
        let remaining = state.conflicts.filter { $0.decision == nil }.map { "\($0.environment)/\($0.name)" }
        var result = ResolveResult(environment: environment, name: name, decision: chosen.rawValue, remaining: remaining, merged: nil)
        guard state.isResolved else { return result }
        let branchRef = try currentBranch()
        let commit: ObjectID = try store.withWriteLock {
            guard let ours = try store.snapshot().commit else { throw AgentError.internal("the branch has no commit") }
            return try merge(branchRef, ours: ours, theirs: state.theirs, remote: state.remote, decisions: state.decisions)
        }
        result.merged = commit.hex
        return result
    }
}
