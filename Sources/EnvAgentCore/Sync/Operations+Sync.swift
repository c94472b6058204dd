#if canImport(Glibc)
import Glibc
#endif

/// Sync through an ordinary git remote: fetch, merge key by key, push; retry when the push is
/// rejected because someone pushed meanwhile.
extension Operations {
    public struct SyncResult: Codable, Sendable, Equatable {
        public var remote: String
        public var branch: String
        /// `up-to-date`, `pushed`, `fast-forward`, `merged` (and pushed unless pull-only).
        public var action: String
        public var commit: String?
        /// Fetch–merge–push cycles it took (more than 1 when a push was rejected).
        public var attempts: Int
        /// Names (`ENV/NAME`) whose line changed locally by this sync (never values), apart
        /// from those only re-encrypted.
        public var changed: [String]
        /// Names (`ENV/NAME`) whose value was only re-encrypted (a rotation or an adopt on the
        /// other side): a new ciphertext, the same update time, env var and creation time.
        public var reencrypted: [String]
    }

    public static let syncAttempts = 32

    /// `agent sync`. With `pullOnly` nothing is pushed. A conflict throws `merge_conflict`
    /// (nothing pushed, the merge state kept for `resolve`).
    public func sync(remote: String = "origin", options: TransferOptions = TransferOptions(),
                     pullOnly: Bool = false) throws -> SyncResult {
        let repository = store.repository
        let branchRef = try currentBranch()
        // One deadline for the whole sync, retries included.
        let options = options.startingDeadline()
        var pulled: (changed: Set<String>, reencrypted: Set<String>) = ([], [])
        for attempt in 1...Self.syncAttempts {
            let landed = try repository.withRemoteLock(remote, until: options.deadline!) {
                try syncCycle(remote: remote, branchRef: branchRef, options: options, pullOnly: pullOnly,
                              attempt: attempt, pulled: &pulled)
            }
            if let landed { return landed }
            // Someone pushed first: back off a random while (growing) so racing clones spread out.
            usleep(UInt32.random(in: 5_000...(20_000 * UInt32(min(attempt, 10)))))
        }
        throw AgentError(.badGateway, "the remote '\(remote)' kept moving: the push was rejected \(Self.syncAttempts) times",
                         hint: "nothing local was lost; run `agent sync` again")
    }

    /// One fetch–merge–push cycle; nil when the push was rejected (retry).
    private func syncCycle(remote: String, branchRef: String, options: TransferOptions, pullOnly: Bool,
                           attempt: Int, pulled: inout (changed: Set<String>, reencrypted: Set<String>)) throws -> SyncResult? {
        let repository = store.repository
        let branch = String(branchRef.dropFirst("refs/heads/".count))
        let tracking = "refs/remotes/\(remote)/\(branch)"
        try repository.fetch(remote: remote, refspecs: ["+\(branchRef):\(tracking)"], options: options)
        try store.objectsWritten() // each fetch that brought objects added a pack
        let theirs = try repository.referenceTarget(tracking)
        var action = "up-to-date"
        var (changed, reencrypted) = pulled
        let local: ObjectID? = try store.withWriteLock {
            let ours = try store.snapshot().commit
            guard let theirs, theirs != ours else { return ours }
            if let ours, try repository.isDescendant(ours, of: theirs) { return ours }
            let before = try store.snapshot()
            // Nothing unvouched for is merged: a recipients change by a non-member stops here.
            let base = try ours.flatMap { try repository.mergeBase($0, theirs) }
            try checkIncoming(StoreSnapshot(reference: branchRef, commit: theirs, tree: try repository.commit(theirs).tree()),
                              against: before,
                              base: try base.map { StoreSnapshot(reference: branchRef, commit: $0, tree: try repository.commit($0).tree()) })
            let moved: ObjectID
            if try ours.map({ try repository.isDescendant(theirs, of: $0) }) ?? true {
                moved = try fastForward(branchRef, from: ours, to: theirs)
                action = "fast-forward"
            } else {
                moved = try merge(branchRef, ours: ours!, theirs: theirs, remote: remote, decisions: [:])
                action = "merged"
            }
            let differences = try changedNames(from: before, to: store.snapshot())
            changed.formUnion(differences.changed)
            reencrypted.formUnion(differences.reencrypted)
            reencrypted.subtract(changed) // a later cycle's value change wins
            repin()
            return moved
        }
        pulled = (changed, reencrypted)
        let result = { (action: String) in
            SyncResult(remote: remote, branch: branch, action: action, commit: local?.hex, attempts: attempt,
                       changed: changed.sorted(), reencrypted: reencrypted.sorted())
        }
        guard !pullOnly, let local, local != theirs else { return result(action) }
        guard try repository.pushBranch(remote: remote, branchRef: branchRef, commit: local, expecting: theirs, options: options) else {
            return nil
        }
        _ = try? repository.moveReference(tracking, to: local, expecting: theirs, logMessage: "agent: push")
        return result(action == "up-to-date" ? "pushed" : action)
    }

    /// `refs/heads/…` of HEAD; `invalid_request` on a detached HEAD.
    func currentBranch() throws -> String {
        let reference = try store.repository.head().reference
        guard reference.hasPrefix("refs/heads/") else {
            throw AgentError(.invalidRequest, "HEAD is detached; sync needs a branch", hint: "git switch BRANCH")
        }
        return reference
    }

    /// Moves the branch (and the working tree) forward to `target`.
    private func fastForward(_ branchRef: String, from current: ObjectID?, to target: ObjectID) throws -> ObjectID {
        try store.repository.checkoutTree(of: target)
        guard try store.repository.moveReference(branchRef, to: target, expecting: current, logMessage: "agent: sync fast-forward") else {
            throw AgentError.internal("the branch moved during sync; run `agent sync` again")
        }
        return target
    }

    /// Merges `theirs` into `ours` (HEAD of `branchRef`): libgit2 merges everything outside the
    /// store, the store is merged key by key. Commits the merge and moves the branch; throws
    /// `merge_conflict` (saving the state for `resolve`) when a secret conflicts.
    func merge(_ branchRef: String, ours: ObjectID, theirs: ObjectID, remote: String,
               decisions: [String: [String: EnvironmentMerge.Decision]]) throws -> ObjectID {
        let repository = store.repository
        guard let base = try repository.mergeBase(ours, theirs) else {
            throw AgentError(.mergeConflict, "the local branch and \(remote) share no history",
                             hint: "clone the remote instead, or merge the histories with git")
        }
        let (tree, otherConflicts) = try repository.mergeTrees(base: base, ours: ours, theirs: theirs,
                                                               isOwnedByCaller: StoreFormat.isMergedByKey)
        guard otherConflicts.isEmpty else {
            throw AgentError(.mergeConflict, "files outside the store conflict: \(otherConflicts.joined(separator: ", "))",
                             details: otherConflicts.map { .init(loc: [$0], msg: "conflicts", type: "merge_conflict") },
                             hint: "merge them with git (`git pull`), then run `agent sync`")
        }
        let snapshots = try [base, ours, theirs].map { id in
            StoreSnapshot(reference: branchRef, commit: id, tree: try repository.commit(id).tree())
        }
        let ourHeader = try snapshots[1].header(), theirHeader = try snapshots[2].header()
        if let ourHeader, let theirHeader, ourHeader.storeID != theirHeader.storeID {
            throw AgentError(.mergeConflict, "\(remote) holds another EnvAgent store (id \(theirHeader.storeID), here \(ourHeader.storeID))")
        }
        let storeID = (ourHeader ?? theirHeader)?.storeID ?? ""
        var changes: [(path: String, blob: ObjectID?)] = []
        // The newer format wins: an upgrade on either side upgrades the merge.
        let header = (theirHeader?.format ?? 0) > (ourHeader?.format ?? 0)
            ? try snapshots[2].file(StoreFormat.headerPath) : try snapshots[1].file(StoreFormat.headerPath) ?? snapshots[2].file(StoreFormat.headerPath)
        if let header { changes.append((StoreFormat.headerPath, try repository.writeBlob(header))) }
        var environments = Set<String>()
        for snapshot in snapshots { environments.formUnion(try snapshot.environments()) }
        var conflicts: [(environment: String, conflict: EnvironmentMerge.Conflict)] = []
        let identity = try identitySource.load()
        for environment in environments.sorted() {
            func files(_ snapshot: StoreSnapshot) throws -> EnvironmentMerge.Files {
                .init(recipients: try snapshot.file(StoreFormat.recipientsPath(environment)),
                      secrets: try snapshot.file(StoreFormat.secretsPath(environment)))
            }
            var merge = EnvironmentMerge(environment: environment, storeID: storeID, identity: identity,
                                         base: try files(snapshots[0]), ours: try files(snapshots[1]),
                                         theirs: try files(snapshots[2]), decisions: decisions[environment] ?? [:])
            switch try merge.merge() {
            case .conflicts(let found):
                conflicts += found.map { (environment, $0) }
            case .merged(let result):
                changes.append((StoreFormat.recipientsPath(environment), try result.recipients.map(repository.writeBlob)))
                changes.append((StoreFormat.secretsPath(environment), try result.secrets.map(repository.writeBlob)))
            }
        }
        guard conflicts.isEmpty else {
            // Keep the decisions already taken, so `resolve` can go on where it stopped.
            let decided = decisions.flatMap { environment, names in
                names.map { MergeState.Entry(environment: environment, name: $0.key, decision: $0.value) }
            }
            let state = MergeState(remote: remote, theirs: theirs,
                                   conflicts: conflicts.map { .init(environment: $0.environment, name: $0.conflict.name, decision: nil) } + decided)
            try state.save(in: repository)
            throw try conflictError(conflicts, ours: ours, theirs: theirs, remote: remote, storeID: storeID, identity: identity,
                                    snapshots: snapshots)
        }
        let merged = try repository.updatedTree(base: try repository.tree(tree), changes: changes)
        let commit = try repository.createCommit(tree: merged, parents: [ours, theirs], message: commitMessage(
            "sync: merge \(remote)/\(branchRef.dropFirst("refs/heads/".count)) key by key"))
        try repository.checkoutTree(of: commit)
        guard try repository.moveReference(branchRef, to: commit, expecting: ours, logMessage: "agent: sync merge") else {
            throw AgentError.internal("the branch moved during sync; run `agent sync` again")
        }
        MergeState.remove(in: repository)
        try repository.packLooseObjectsIfNeeded()
        return commit
    }

    /// `merge_conflict` naming each secret with both sides' masked values, authors and dates.
    private func conflictError(_ conflicts: [(environment: String, conflict: EnvironmentMerge.Conflict)],
                               ours: ObjectID, theirs: ObjectID, remote: String, storeID: String, identity: Identity?,
                               snapshots: [StoreSnapshot]) throws -> AgentError {
        var lines: [String] = []
        var details: [AgentError.Detail] = []
        for (environment, conflict) in conflicts {
            func describe(_ line: SecretLine?, _ snapshot: StoreSnapshot, _ head: ObjectID) -> String {
                let commit = try? lastChange(of: StoreFormat.secretsPath(environment), line: conflict.name, from: head)
                let who = commit.map { " by \($0.authorName) <\($0.authorEmail)> at \(Timestamp.format($0.time))" } ?? ""
                guard let line else { return "deleted\(who)" }
                let key = identity.flatMap { identity in
                    (try? snapshot.recipients(environment)).flatMap {
                        try? EnvironmentKey.unwrap(from: $0, identity: identity, storeID: storeID, environment: environment)
                    }
                }
                let masked = key.flatMap { try? $0.open(line) }.map(Masking.mask) ?? Masking.bullets
                return "\(masked)\(who)"
            }
            let text = "ours \(describe(conflict.ours, snapshots[1], ours)); theirs \(describe(conflict.theirs, snapshots[2], theirs))"
            let reason = conflict.reason ?? "changed on both sides"
            lines.append("  \(environment)/\(conflict.name): \(conflict.reason.map { "\($0): " } ?? "")\(text)")
            details.append(.init(loc: [environment, conflict.name], msg: "\(reason): \(text)", type: "merge_conflict"))
        }
        return AgentError(.mergeConflict, "sync stopped: \(conflicts.count) conflicting secret\(conflicts.count == 1 ? "" : "s") here and on \(remote); nothing was pushed\n" + lines.joined(separator: "\n"),
                          details: details,
                          hint: conflicts.contains { $0.conflict.reason == EnvironmentMerge.staleKeyReason }
                              ? "for a secret sealed to a replaced key: `agent resolve NAME --env ENV --theirs`, and after the sync write it again (sealed to the new key); for the others: --ours, --theirs or a new value on stdin"
                              : "for each: `agent resolve NAME --env ENV --ours` (or --theirs, or a new value on stdin), then `agent sync`")
    }

    /// `ENV/NAME` of every secrets line that differs between two snapshots: re-encrypted when
    /// only the VALUE field changed (same env var, creation and update time) and, where this
    /// identity can open both versions, the value is the same; else changed. (Update times
    /// have one-second resolution: the values decide when they can be read.)
    private func changedNames(from old: StoreSnapshot, to new: StoreSnapshot) throws -> (changed: Set<String>, reencrypted: Set<String>) {
        var changed = Set<String>(), reencrypted = Set<String>()
        for environment in Set(try old.environments() + new.environments()) {
            let before = try old.uncheckedSecrets(environment), after = try new.uncheckedSecrets(environment)
            let all = Set(before.lines.map(\.name) + after.lines.map(\.name))
            var keys: (old: EnvironmentKey?, new: EnvironmentKey?)?
            for name in all {
                let a = before.line(named: name), b = after.line(named: name)
                guard a != b else { continue }
                var sameValue = false
                if let a, let b, a.isWellFormed, b.isWellFormed, a.envVar == b.envVar, a.createdAt == b.createdAt, a.updatedAt == b.updatedAt {
                    func key(_ snapshot: StoreSnapshot) -> EnvironmentKey? {
                        (try? trustedRecipients(environment, in: snapshot, pinning: false))
                            .flatMap { try? environmentKey(environment, in: snapshot, file: $0) }
                    }
                    let (oldKey, newKey) = keys ?? (key(old), key(new))
                    keys = (oldKey, newKey)
                    if let oldKey, let newKey, let x = try? oldKey.open(a), let y = try? newKey.open(b) {
                        sameValue = x.matches(y)
                    } else {
                        sameValue = true // unreadable here: the line's metadata is all there is
                    }
                }
                if sameValue { reencrypted.insert("\(environment)/\(name)") } else { changed.insert("\(environment)/\(name)") }
            }
        }
        return (changed, reencrypted)
    }
}
