#if canImport(Glibc)
import Glibc
#endif

/// `scan`: the value-aware leak scan over the working tree or the whole history. The
/// pre-commit hook (Operations+Hooks) uses the same scanner on staged blobs.
extension Operations {
    public struct ScanReport: Codable, Sendable, Equatable {
        public var findings: [LeakFinding]
        public var coverage: ValueScanCoverage
        /// Files (working tree) or distinct blobs (history) searched.
        public var scanned: Int
        /// Commits walked (history only).
        public var commits: Int?

        /// `validation_error` listing the findings, nil when there are none.
        public func error(action: String, hint: String) -> AgentError? {
            guard !findings.isEmpty else { return nil }
            return AgentError(.validationError, "\(action): \(findings.count) finding\(findings.count == 1 ? "" : "s")",
                              details: findings.map { finding in
                                  .init(loc: [finding.path] + (finding.line.map { ["line \($0)"] } ?? []) + (finding.commit.map { [$0] } ?? []),
                                        msg: finding.what, type: finding.kind.rawValue)
                              },
                              hint: hint)
        }
    }

    /// A scanner for every current value (≥ 8 bytes) of every environment this identity can
    /// open, plus identity key texts. Without a usable identity or store it searches key texts
    /// only and says why in its coverage. Values are decrypted here and wiped with the scanner.
    public func leakScanner() throws -> LeakScanner {
        let snapshot = try store.snapshot()
        var coverage = ValueScanCoverage(environments: [], unreadableEnvironments: [], skippedReason: nil, values: 0)
        guard let header = try snapshot.header() else {
            coverage.skippedReason = "this repository has no EnvAgent store"
            return LeakScanner(values: [], coverage: coverage)
        }
        let identity: Identity?
        do {
            identity = try identitySource.load()
        } catch let error as AgentError {
            coverage.skippedReason = "the identity cannot be used: \(error.message)"
            return LeakScanner(values: [], coverage: coverage)
        }
        guard let identity else {
            coverage.skippedReason = "no identity (AGENT_IDENTITY, AGENT_IDENTITY_FILE or \(identitySource.defaultFile))"
            return LeakScanner(values: [], coverage: coverage)
        }
        var values: [(value: SecretBytes, label: String)] = []
        for environment in try snapshot.environments() {
            // An environment this clone cannot trust is not opened (its key may be anyone's).
            guard let recipients = try? trustedRecipients(environment, in: snapshot).recipients,
                  recipients.contains(where: { Crypto.equal($0.publicKey, identity.publicKey) }),
                  let key = try? EnvironmentKey.unwrap(from: recipients, identity: identity, storeID: header.storeID,
                                                       environment: environment)
            else {
                coverage.unreadableEnvironments.append(environment)
                continue
            }
            coverage.environments.append(environment)
            for line in try snapshot.secrets(environment).lines {
                // A line that does not open is `verify`'s business; the others are still searched.
                guard let value = try? key.open(line) else { continue }
                values.append((value, "\(line.name) (\(environment))"))
            }
        }
        if coverage.environments.isEmpty {
            coverage.skippedReason = "this identity is not a member of any environment"
        }
        return LeakScanner(values: values, coverage: coverage)
    }

    /// Scans files of the working tree: `paths` (files or folders, relative to the current
    /// directory), or the whole working tree when empty. Inside folders, `.git` and files git
    /// ignores are skipped (a rendered `.env` is expected to be ignored); a file named
    /// explicitly is always scanned.
    public func scanWorkingTree(paths: [String]) throws -> ScanReport {
        let repository = store.repository
        let scanner = try leakScanner()
        var report = ScanReport(findings: [], coverage: scanner.coverage, scanned: 0, commits: nil)
        let workdir = repository.workdir
        func relativeToWorkdir(_ path: String) -> String? {
            guard let workdir else { return nil }
            let absolute = path.hasPrefix("/") ? path : FileIO.currentDirectory() + "/" + path
            return absolute.hasPrefix(workdir) ? String(absolute.dropFirst(workdir.count)) : nil
        }
        func scanFile(_ path: String, shown: String) throws {
            var bytes = try FileIO.read(path)
            defer { Crypto.wipe(&bytes) }
            report.scanned += 1
            report.findings += scanner.scan(bytes.span, path: shown)
        }
        func walk(_ folder: String, shown: String) throws {
            for name in FileIO.directoryEntries(folder).sorted() where name != ".git" {
                let path = folder + "/" + name
                let display = shown.isEmpty ? name : shown + "/" + name
                var st = stat()
                guard lstat(path, &st) == 0 else { continue }
                let isFolder = st.st_mode & S_IFMT == S_IFDIR
                guard isFolder || st.st_mode & S_IFMT == S_IFREG else { continue } // no symlinks, devices
                if let relative = relativeToWorkdir(path), try repository.isIgnored(relative + (isFolder ? "/" : "")) {
                    continue
                }
                if isFolder { try walk(path, shown: display) } else { try scanFile(path, shown: display) }
            }
        }
        if paths.isEmpty {
            guard let workdir else {
                throw AgentError(.invalidRequest, "a bare repository has no working tree to scan",
                                 hint: "use `agent scan --history`")
            }
            try walk(String(workdir.dropLast()), shown: "")
        } else {
            for path in paths {
                if FileIO.isDirectory(path) {
                    try walk(path.hasSuffix("/") && path.count > 1 ? String(path.dropLast()) : path,
                             shown: path == "." ? "" : path)
                } else {
                    try scanFile(path, shown: path)
                }
            }
        }
        return report
    }

    /// Scans every blob reachable from every reference (branches, tags, remotes, stash) and
    /// HEAD, each distinct blob once, naming the commit (oldest first) that introduced it.
    public func scanHistory() throws -> ScanReport {
        let repository = store.repository
        let scanner = try leakScanner()
        var report = ScanReport(findings: [], coverage: scanner.coverage, scanned: 0, commits: 0)
        var seen = Set<ObjectID>()
        try repository.walkAllCommits { commit in
            report.commits! += 1
            let commitID = commit.id.hex
            for file in try repository.changedBlobs(in: commit) where seen.insert(file.blob).inserted {
                report.scanned += 1
                report.findings += try repository.withBlob(file.blob) {
                    scanner.scan($0, path: file.path, commit: commitID)
                }
            }
        }
        return report
    }
}
