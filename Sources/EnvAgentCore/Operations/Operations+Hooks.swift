/// The git hooks: installing them, and what `agent hooks run NAME` does for each.
extension Operations {
    public struct PreCommitReport: Codable, Sendable, Equatable {
        public var findings: [LeakFinding]
        public var coverage: ValueScanCoverage
        /// Staged files (added or modified) that were checked.
        public var files: Int
        /// A problem with `.envagent/targets` (the check used the default names only).
        public var targetsWarning: String?

        enum CodingKeys: String, CodingKey {
            case findings, coverage, files
            case targetsWarning = "targets_warning"
        }

        /// What blocks the commit: `validation_error` listing each finding, nil when clean.
        public var blockingError: AgentError? {
            ScanReport(findings: findings, coverage: coverage, scanned: files, commits: nil)
                .error(action: "commit blocked: the staged changes would leak secrets", hint: Self.fix)
        }

        /// How to fix a blocked commit, one step a line.
        public static let fixSteps = [
            "unstage a rendered file: git restore --staged PATH (git rm --cached PATH if it is already tracked), and list it in .gitignore",
            "replace a value with a reference: read it from the environment (agent run -- CMD, or a rendered .env)",
            "a value that was pushed or shared anywhere must be rotated at its source, then: agent update NAME",
            "a false positive: git commit --no-verify skips this check once",
        ]

        public static var fix: String { fixSteps.joined(separator: "; ") }
    }

    /// Names that are rendered secrets files, wherever they are: `.env` and `.env.*`, except
    /// the usual committed templates (their content is still value-scanned).
    public static let templateSuffixes = ["example", "sample", "template", "dist"]

    public static func isRenderedFileName(_ path: String) -> Bool {
        let name = FileIO.basename(path)
        if name == ".env" { return true }
        guard name.hasPrefix(".env.") else { return false }
        return !templateSuffixes.contains(String(name.dropFirst(5)))
    }

    /// The pre-commit check of the index git is committing (`indexPath`, git's
    /// `GIT_INDEX_FILE`; nil: the repository's index). Never throws for a finding: the caller
    /// blocks on `blockingError`.
    public func preCommitCheck(indexPath: String?) throws -> PreCommitReport {
        let repository = store.repository
        let staged = try repository.stagedFiles(indexPath: indexPath)
        var report = PreCommitReport(findings: [], coverage: ValueScanCoverage(environments: [], unreadableEnvironments: [],
                                                                                skippedReason: nil, values: 0),
                                     files: staged.count, targetsWarning: nil)
        var targets = RenderTargets(targets: [])
        do {
            targets = try renderTargets() ?? targets
        } catch let error as AgentError {
            report.targetsWarning = error.message
        }
        guard !staged.isEmpty else { return report }
        let scanner = try leakScanner()
        report.coverage = scanner.coverage
        for file in staged {
            let isStoreFile = file.path.hasPrefix(StoreFormat.folder + "/")
            if !isStoreFile && (Self.isRenderedFileName(file.path) || targets.isOutput(file.path)) {
                report.findings.append(LeakFinding(kind: .renderedFile, path: file.path, line: nil))
                continue
            }
            var findings = try repository.withBlob(file.blob) { scanner.scan($0, path: file.path) }
            if !findings.isEmpty, let previous = file.previous {
                // Only what this commit adds counts; a leak already in HEAD is `agent scan`'s to report.
                let added = try repository.addedLines(from: previous, to: file.blob)
                findings = try repository.withBlob(file.blob) { scanner.scan($0, path: file.path, addedLines: added) }
            }
            report.findings += findings
        }
        return report
    }

    // MARK: Installing

    public func hookStatus() throws -> (folder: String, fromHooksPath: Bool, hooks: [HookInstaller.HookStatus]) {
        let installer = try HookInstaller(repository: store.repository)
        return (installer.folder, installer.fromHooksPath, installer.status())
    }

    public func installHooks(force: Bool) throws -> [HookInstaller.HookChange] {
        try HookInstaller(repository: store.repository).install(force: force)
    }

    public func uninstallHooks() throws -> [HookInstaller.HookChange] {
        try HookInstaller(repository: store.repository).uninstall()
    }
}
