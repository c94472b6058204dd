#if canImport(Glibc)
import Glibc
#endif

/// Repairing an index that a racing `git commit` put back. A plain `git commit` reads the
/// index before it takes `index.lock` and, when its refresh changed an entry, writes what it
/// read back under the lock: an agent write that published in between (index, work tree and
/// branch, all under the lock) then has its store files staged at their previous version,
/// and the user's next commit would revert it. git runs the pre-commit hook after that write
/// and re-reads the index after the hook, so the hook can put those entries back.
extension Store {
    /// How far back a staged blob is looked for in HEAD's history.
    static let staleIndexSearchDepth = 1000

    /// Whether `path` is one of the files the agent writes: `.envagent/store`,
    /// `.envagent/ENV/recipients`, `.envagent/ENV/secrets`.
    public static func isStoreFile(_ path: String) -> Bool {
        if path == StoreFormat.headerPath { return true }
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        return parts.count == 3 && parts[0] == Substring(StoreFormat.folder) && !parts[1].isEmpty
            && (parts[2] == "secrets" || parts[2] == "recipients")
    }

    /// Restages HEAD's version of every store file whose index entry is stale: it differs from
    /// HEAD's, equals that path's blob in an older commit of HEAD's history, and the work-tree
    /// file already equals HEAD's. A user's own change (a hand edit or merge, which changes the
    /// work-tree file too) is left alone. Only the repository's index is repaired (`indexPath`
    /// is `GIT_INDEX_FILE`: `git commit -a` commits an index that took the work-tree files,
    /// `git commit PATH` one built from HEAD, and neither writes the real index back once the
    /// branch moved). Holds `index.lock` while it checks and writes, as agent writes do.
    /// Returns the restored paths.
    public func restoreStaleIndexEntries(indexPath: String?) throws -> [String] {
        guard !repository.isBare, let workdir = repository.workdir else { return [] }
        if let indexPath, Self.resolved(indexPath) != Self.resolved(repository.indexPath) { return [] }
        // Cheap check without the lock: nothing to do in the usual case.
        guard try !staleStoreFiles(workdir: workdir).isEmpty else { return [] }
        let lock = repository.indexLockPath
        try GitLockFile.acquire(lock, record: LockOwner.current(paths: []).encoded, recoverAbandoned: { _ in false })
        defer { GitLockFile.release(lock) }
        let stale = try staleStoreFiles(workdir: workdir)
        if !stale.isEmpty {
            try repository.stage(contents(of: stale, in: snapshot()))
        }
        return stale
    }

    private func staleStoreFiles(workdir: String) throws -> [String] {
        let head = try snapshot()
        guard let headCommit = head.commit else { return [] }
        let candidates = try repository.stagedFiles(indexPath: repository.indexPath).filter { file in
            guard Self.isStoreFile(file.path), let headBlob = file.previous,
                  let onDisk = try? FileIO.read(workdir + file.path) else { return false }
            return try onDisk == repository.blob(headBlob)
        }
        guard !candidates.isEmpty else { return [] }
        var pending = Dictionary(uniqueKeysWithValues: candidates.map { ($0.path, $0.blob) })
        var stale: [String] = []
        var seen = 0
        try repository.walk(from: headCommit) { commit in
            seen += 1
            guard commit.id != headCommit else { return true }
            let tree = try commit.tree()
            for (path, blob) in pending where (try? tree.fileID(at: path)) == blob {
                stale.append(path)
                pending[path] = nil
            }
            return !pending.isEmpty && seen < Self.staleIndexSearchDepth
        }
        return stale.sorted()
    }

    private static func resolved(_ path: String) -> String {
        guard let real = realpath(path, nil) else { return path }
        defer { free(real) }
        return String(cString: real)
    }
}
