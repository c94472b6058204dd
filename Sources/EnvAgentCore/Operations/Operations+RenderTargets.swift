#if canImport(Glibc)
import Glibc
#endif

/// `render --targets` and the post-checkout/merge/rewrite refresh: write every target of
/// `.envagent/targets` (see `RenderTargets`), atomically, only when its content or mode changed.
/// A target that needs this machine's approval and lacks it is skipped, and one that resolves
/// into git's or the store's own files always fails (see `TargetApproval`, `TargetLocation`).
extension Operations {
    public struct TargetResult: Codable, Sendable, Equatable {
        public enum Outcome: String, Codable, Sendable {
            /// The file was created or replaced (or only its mode corrected).
            case written
            /// The file already held exactly this content and mode: not touched.
            case unchanged
            /// This identity cannot read the environment (no identity, or not a member), or the
            /// target needs this machine's approval (`needsApproval`).
            case skipped
            /// Anything else (a missing secret, an unrepresentable value, a file-system error).
            case failed
        }

        public var target: String
        public var environment: String
        /// The output path as configured.
        public var output: String
        public var outcome: Outcome
        public var secrets: Int
        /// Why the target was skipped or failed.
        public var message: String?
        /// The target's on-change command, for callers that run it when the file was written.
        public var onChange: String?
        /// Set when the target was skipped for want of this machine's approval: what it asks.
        public var needsApproval: [String]?
        /// The error behind `failed`/`skipped` (not part of the JSON).
        public var error: AgentError?

        enum CodingKeys: String, CodingKey {
            case target, environment, output, outcome, secrets, message
            case onChange = "on_change"
            case needsApproval = "needs_approval"
        }
    }

    /// The targets file: the working tree's copy (what the user is editing), else HEAD's (a
    /// bare repository); nil when there is none.
    public func renderTargets() throws -> RenderTargets? {
        guard let bytes = try renderTargetsBytes() else { return nil }
        return try RenderTargets.parse(bytes)
    }

    func renderTargetsBytes() throws -> [UInt8]? {
        if let workdir = store.repository.workdir {
            let path = workdir + RenderTargets.path
            return FileIO.exists(path) ? try FileIO.read(path) : nil
        }
        return try store.snapshot().file(RenderTargets.path)
    }

    /// The targets file's bytes and what they say; `not_found` when there is none.
    func requireTargets() throws -> (bytes: [UInt8], config: RenderTargets) {
        guard let bytes = try renderTargetsBytes() else {
            throw AgentError(.notFound, "no render targets: \(RenderTargets.path) does not exist",
                             hint: "create it (see README \"Render targets\"), e.g. [target app] / environment = dev / output = .env")
        }
        return (bytes, try RenderTargets.parse(bytes))
    }

    /// Renders every configured target once. Per-target problems are reported in the result,
    /// not thrown; a malformed or missing targets file throws.
    public func renderAllTargets() throws -> [TargetResult] {
        let (bytes, config) = try requireTargets()
        let results = try render(config, bytes: bytes)
        try recordRendered(results)
        return results
    }

    /// What the post-checkout, post-merge and post-rewrite hooks run: renders the targets when
    /// the store at HEAD (or the targets file) differs from what was last rendered in this
    /// working tree, else returns nil at the cost of one HEAD lookup.
    public func refreshTargetsIfStoreChanged() throws -> [TargetResult]? {
        guard let state = try renderState() else { return nil }
        let recorded = try readState()
        if let recorded, recorded.rendersSame(as: state) {
            // Same store at another commit: remember the commit, so the next hook at it can
            // answer without opening the repository (`renderTargetsAreCurrent`).
            if recorded.commit != state.commit { try writeState(state) }
            return nil
        }
        guard let bytes = try renderTargetsBytes() else { return nil }
        let results = try render(RenderTargets.parse(bytes), bytes: bytes)
        try recordRendered(results)
        return results
    }

    /// Whether the render targets of the working tree at `workingTree` are certainly current
    /// for HEAD at `commit`, decided without opening the repository (see `RenderState.isCurrent`);
    /// false means "run `refreshTargetsIfStoreChanged`", not "stale".
    public static func renderTargetsAreCurrent(atCommit commit: String, workingTree: String) -> Bool {
        RenderState.isCurrent(commit: commit, workingTree: workingTree)
    }

    // MARK: State

    /// Where the last rendered store state is kept: per working tree, inside its git folder.
    private var statePath: String { store.repository.gitDirectory + RenderState.fileName }

    /// HEAD's store tree, targets fingerprint and commit; nil when there is no store or no targets file.
    private func renderState() throws -> RenderState? {
        guard let targets = try renderTargetsBytes(), let head = try store.repository.head().commit,
              let storeTree = try store.repository.commit(head).tree().entryID(at: StoreFormat.folder) else { return nil }
        return RenderState(storeTree: storeTree.hex, targetsFingerprint: RenderState.fingerprint(targets), commit: head.hex)
    }

    private func readState() throws -> RenderState? {
        guard FileIO.exists(statePath) else { return nil }
        return RenderState(parsing: try FileIO.read(statePath))
    }

    private func writeState(_ state: RenderState) throws {
        try FileIO.writeAtomically(statePath, bytes: Array(state.text.utf8), mode: 0o644, sync: false)
    }

    /// Remembers the rendered state unless a target failed or waits for approval (so the next
    /// hook, or `agent watch`'s next cycle, renders it once `agent allow` approved it).
    private func recordRendered(_ results: [TargetResult]) throws {
        guard !results.contains(where: { $0.outcome == .failed || $0.needsApproval != nil }),
              let state = try renderState() else { return }
        try writeState(state)
    }

    // MARK: Rendering

    /// Renders `config`, parsed from `bytes`: the approval is checked against those bytes.
    private func render(_ config: RenderTargets, bytes: [UInt8]) throws -> [TargetResult] {
        let plan = try self.plan(config, bytes: bytes)
        let snapshot = try store.snapshot()
        var keys: [String: EnvironmentKey] = [:]
        return plan.targets.map { planned in
            let target = planned.target
            var result = TargetResult(target: target.name, environment: target.environment, output: target.output,
                                      outcome: .failed, secrets: 0, message: nil, onChange: target.onChange,
                                      needsApproval: nil, error: nil)
            if let refusal = planned.refusal {
                let error = AgentError(.invalidRequest, "target '\(target.name)': \(refusal)",
                                       hint: "choose an output outside .git, the hooks folder and \(StoreFormat.folder)/ in \(RenderTargets.path)")
                result.message = error.message
                result.error = error
                return result
            }
            if !planned.reasons.isEmpty && !plan.review.approved {
                let error = Self.approvalNeeded(planned, changedSinceApproval: plan.hasApproval)
                result.outcome = .skipped
                result.needsApproval = planned.reasons.map(\.description)
                result.message = error.message
                result.error = error
                return result
            }
            do {
                let key: EnvironmentKey
                if let cached = keys[target.environment] {
                    key = cached
                } else {
                    key = try environmentKey(target.environment, in: snapshot)
                    keys[target.environment] = key
                }
                // A k8s target's Secret is named after the target.
                let manifestName = target.format == .k8s ? try Self.checkedManifestName(target.name, environment: target.environment) : ""
                let layers = try layers(of: target.environment, in: snapshot)
                let rendered: SecretBytes
                if layers.count > 1 {
                    let lines = try layeredLines(target.names, environment: target.environment, layers: layers, in: snapshot, keys: &keys)
                    rendered = try Self.render(lines, format: target.format, manifestName: manifestName)
                    result.secrets = lines.count
                } else {
                    let lines = try Self.select(target.names, from: snapshot.secrets(target.environment), environment: target.environment)
                    rendered = try Self.render(lines, with: key, format: target.format, manifestName: manifestName)
                    result.secrets = lines.count
                }
                // After the key: a target this identity cannot read stays `skipped`, folder or not.
                guard planned.location.folderExists else {
                    throw AgentError.internal("cannot write \(target.output): the folder \(FileIO.dirname(planned.location.path)) does not exist")
                }
                result.outcome = try write(rendered, to: planned.location.path, mode: mode_t(target.mode))
            } catch let error as AgentError {
                result.outcome = error.kind == .forbidden ? .skipped : .failed
                result.message = error.message
                result.error = error
            } catch {
                result.message = "\(error)"
                result.error = AgentError.internal("\(error)")
            }
            return result
        }
    }

    /// Writes atomically unless the file already holds these bytes with this mode. `path` is
    /// the resolved location (its folder real), so the temp file and the rename stay in that
    /// folder; a symlink at `path` is replaced, never followed.
    private func write(_ rendered: SecretBytes, to path: String, mode: mode_t) throws -> TargetResult.Outcome {
        // O_NOFOLLOW: the comparison and a mode fix act on this very regular file, not a link's target.
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        if fd >= 0 {
            defer { close(fd) }
            var st = stat()
            if fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG, st.st_size == rendered.count,
               var existing = try? FileIO.readAll(fd: fd) {
                defer { Crypto.wipe(&existing) }
                if rendered.matches(existing) {
                    if st.st_mode & 0o7777 == mode { return .unchanged }
                    guard fchmod(fd, mode) == 0 else { throw AgentError.internal("cannot set the mode of \(path): \(FileIO.errnoMessage())") }
                    return .written
                }
            }
        }
        try FileIO.writeAtomically(path, secret: rendered, mode: mode)
        return .written
    }
}
