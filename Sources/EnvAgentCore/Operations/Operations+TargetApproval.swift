/// `agent allow`: this machine's consent to what `.envagent/targets` asks beyond private files in
/// the work tree (see `TargetApproval`), and the plan every render of the targets follows.
extension Operations {
    /// One target as this machine would carry it out.
    public struct TargetReview: Codable, Sendable, Equatable {
        public var target: String
        /// The output as configured.
        public var output: String
        /// The file it writes: the output with its folders' symlinks resolved.
        public var path: String
        /// What it asks of this machine that needs approval; empty when nothing does.
        public var needsApproval: [String]
        /// Why it is never written, approved or not (it resolves into git's or the store's files).
        public var refused: String?

        enum CodingKeys: String, CodingKey {
            case target, output, path, refused
            case needsApproval = "needs_approval"
        }
    }

    public struct TargetsReview: Codable, Sendable, Equatable {
        public var targets: [TargetReview]
        /// Whether this machine approved exactly this content (always true when nothing needs it).
        public var approved: Bool

        /// The targets waiting for (or covered by) an approval: those that need one and are not refused.
        public var needingApproval: [TargetReview] {
            targets.filter { !$0.needsApproval.isEmpty && $0.refused == nil }
        }
    }

    /// What the targets file asks of this machine, and whether it is approved.
    public func reviewTargets() throws -> TargetsReview {
        let (bytes, config) = try requireTargets()
        return try self.plan(config, bytes: bytes).review
    }

    /// Approves the current content of the targets file on this machine (`agent allow`) and
    /// returns what was approved. Nothing is recorded when nothing needs approval.
    @discardableResult
    public func allowTargets() throws -> TargetsReview {
        let (bytes, config) = try requireTargets()
        var plan = try self.plan(config, bytes: bytes)
        if !plan.review.needingApproval.isEmpty && !plan.review.approved {
            try TargetApproval(repository: store.repository).approve(plan.digest)
            plan.review.approved = true
        }
        return plan.review
    }

    /// Withdraws this work tree's approval (`agent allow --revoke`); false when there was none.
    public func revokeTargetsApproval() throws -> Bool {
        try TargetApproval(repository: store.repository).revoke()
    }

    // MARK: Planning

    /// One target, where it lands, and what stands in its way.
    struct TargetPlan {
        var target: RenderTargets.Target
        var location: TargetLocation
        var reasons: [TargetConsentReason]
        var refusal: String?
    }

    struct TargetsPlan {
        var targets: [TargetPlan]
        var digest: String
        /// Whether an approval is on record for this git folder, whatever its content.
        var hasApproval: Bool
        var review: TargetsReview
    }

    /// Resolves every target of `config` (parsed from `bytes`) on this machine and checks the
    /// approval against those very bytes, so what is approved is what is rendered.
    func plan(_ config: RenderTargets, bytes: [UInt8]) throws -> TargetsPlan {
        let surroundings = TargetSurroundings(repository: store.repository)
        let targets = config.targets.map { target in
            let location = surroundings.location(of: target.output)
            return TargetPlan(target: target, location: location,
                              reasons: TargetConsentReason.reasons(for: target, at: location, in: surroundings),
                              refusal: surroundings.refusal(of: location, output: target.output))
        }
        let digest = try TargetApproval.digest(of: bytes, asking: targets.map { ($0.target.name, $0.reasons) })
        let approved = try TargetApproval(repository: store.repository).approvedDigest()
        let reviews = targets.map {
            TargetReview(target: $0.target.name, output: $0.target.output, path: $0.location.path,
                         needsApproval: $0.reasons.map(\.description), refused: $0.refusal)
        }
        var review = TargetsReview(targets: reviews, approved: true)
        review.approved = review.needingApproval.isEmpty || approved == digest
        return TargetsPlan(targets: targets, digest: digest, hasApproval: approved != nil, review: review)
    }

    /// The error of a target skipped for want of approval: it names the target, why, and the fix.
    static func approvalNeeded(_ plan: TargetPlan, changedSinceApproval: Bool) -> AgentError {
        let why = plan.reasons.map(\.description).joined(separator: "; ")
        let since = changedSinceApproval ? " (\(RenderTargets.path) changed since it was approved)" : ""
        return AgentError(.forbidden, "target '\(plan.target.name)' needs this machine's approval\(since): \(why); \(TargetApproval.fix)",
                          details: plan.reasons.map { .init(loc: [RenderTargets.path, "target \(plan.target.name)"],
                                                            msg: $0.description, type: "needs_approval") })
    }
}
