import ArgumentParser
import EnvAgentCore

struct AllowCommand: AgentCommand {
    static let configuration = CommandConfiguration(
        commandName: "allow",
        abstract: "Approve the current .envagent/targets on this machine (outputs outside the work tree, wider modes, on-change commands).",
        discussion: """
            .envagent/targets is committed, so anyone who can push edits it. A target that writes \
            outside the work tree, with a mode wider than 0600, or that has an on-change command is \
            skipped on this machine until you approve that exact content: review the file, then run \
            `agent allow`, which prints what it approves. Any change to the file voids the approval. \
            Outputs inside .git or .envagent are never written. --revoke withdraws the approval.
            """)
    @OptionGroup var global: GlobalOptions
    @Flag(help: "Withdraw this work tree's approval.") var revoke = false

    func execute() throws {
        let operations = try global.operations()
        if revoke {
            let revoked = try operations.revokeTargetsApproval()
            if global.json { return try Console.json(["revoked": revoked]) }
            Console.out(revoked ? "approval revoked: targets that need it are skipped until `agent allow`"
                                : "nothing to revoke: this work tree has no approval")
            return
        }
        let review = try operations.allowTargets()
        if global.json { return try Console.json(review) }
        let asking = review.needingApproval
        if asking.isEmpty {
            Console.out("nothing to approve: every target writes a file inside the work tree with mode 0600 or narrower and runs nothing")
        } else {
            Console.out("\(RenderTargets.path) asks this machine to:")
            for target in asking {
                Console.out("  target \(target.target) (\(target.output)): \(target.needsApproval.joined(separator: "; "))")
            }
        }
        let refused = review.targets.filter { $0.refused != nil }
        if !refused.isEmpty {
            Console.out("never written, approved or not:")
            for target in refused { Console.out("  target \(target.target): \(target.refused!)") }
        }
        guard !asking.isEmpty else { return }
        Console.out("approved on this machine for exactly this content (any change needs `agent allow` again; `agent allow --revoke` withdraws it)")
        Console.out("`agent render --targets` renders them now; the git hooks and `agent watch` do on their next run")
    }
}
