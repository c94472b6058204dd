import CLibgit2
#if canImport(Glibc)
import Glibc
#endif

/// A file staged for the next commit whose blob differs from HEAD's.
public struct StagedFile: Sendable, Equatable {
    /// Path relative to the working tree, `/`-separated.
    public let path: String
    public let blob: ObjectID
    /// The blob at HEAD, nil for a file that HEAD does not have.
    public let previous: ObjectID?
}

/// The index: what is staged (for the pre-commit leak guard) and staging a write's files.
extension GitRepository {
    /// Files added or modified in the index relative to HEAD (an unborn branch: every staged
    /// file). `indexPath` is the index git is committing from (`GIT_INDEX_FILE` while a hook
    /// runs: `git commit -a` and `git commit PATH` commit a temporary index); nil reads the
    /// repository's own. Deletions and submodules are left out.
    public func stagedFiles(indexPath: String?) throws -> [StagedFile] {
        var index: OpaquePointer?
        if let indexPath {
            try Libgit2.check(git_index_open(&index, indexPath), "git_index_open")
        } else {
            try Libgit2.check(git_repository_index(&index, pointer), "git_repository_index")
        }
        defer { git_index_free(index) }
        let headTree = try head().commit.map { try commit($0).tree() }
        var options = git_diff_options()
        try Libgit2.check(git_diff_options_init(&options, UInt32(GIT_DIFF_OPTIONS_VERSION)), "git_diff_options_init")
        options.flags = GIT_DIFF_IGNORE_SUBMODULES.rawValue
        var diff: OpaquePointer?
        try Libgit2.check(git_diff_tree_to_index(&diff, pointer, headTree?.pointer, index, &options), "git_diff_tree_to_index")
        defer { git_diff_free(diff) }
        return Self.changedFiles(diff)
    }

    /// `index` in the git folder (the worktree's own for a linked worktree).
    public var indexPath: String { gitDirectory + "index" }

    /// git's lock on the index (see `GitLockFile`).
    public var indexLockPath: String { indexPath + ".lock" }

    /// Makes the index and working-tree copies of each path equal to its blob (writing the
    /// file, or removing it when nil), leaving every other index entry as it was. The caller
    /// holds `index.lock`, which libgit2's `git_index_write` would take itself: so the index is
    /// copied to `envagent-index` beside it, updated there and renamed over `index` (atomic for
    /// git's readers). Each entry is built from the known blob id and the new file's stat data,
    /// so nothing is hashed or compressed again. Work-tree files are written first: an index
    /// entry needs their stat data, and `git commit -a` must never find an older file than the
    /// index holds.
    func stage(_ contents: [(path: String, blob: (id: ObjectID, bytes: [UInt8])?)]) throws {
        guard let workdir else { return }
        var entries: [(path: String, entry: git_index_entry?)] = []
        for (path, blob) in contents {
            let file = workdir + path
            guard let blob else {
                _ = unlink(file)
                entries.append((path, nil))
                continue
            }
            try FileIO.makeDirectories(FileIO.dirname(file), mode: 0o755)
            try FileIO.writeAtomically(file, bytes: blob.bytes, mode: 0o644, sync: false)
            var st = stat()
            guard stat(file, &st) == 0 else { throw AgentError.internal("cannot stat \(file): \(FileIO.errnoMessage())") }
            var entry = git_index_entry()
            entry.ctime = git_index_time(seconds: Int32(truncatingIfNeeded: st.st_ctim.tv_sec), nanoseconds: UInt32(st.st_ctim.tv_nsec))
            entry.mtime = git_index_time(seconds: Int32(truncatingIfNeeded: st.st_mtim.tv_sec), nanoseconds: UInt32(st.st_mtim.tv_nsec))
            entry.dev = UInt32(truncatingIfNeeded: st.st_dev)
            entry.ino = UInt32(truncatingIfNeeded: st.st_ino)
            entry.mode = GIT_FILEMODE_BLOB.rawValue
            entry.uid = st.st_uid
            entry.gid = st.st_gid
            entry.file_size = UInt32(truncatingIfNeeded: st.st_size)
            entry.id = blob.id.raw
            entries.append((path, entry))
        }
        let scratch = gitDirectory + "envagent-index"
        _ = unlink(scratch)
        _ = unlink(scratch + ".lock") // left by a crash; ours while we hold index.lock
        // A hard link shares the current index without copying it; libgit2 writes a new file
        // and renames it over the link, so `index` itself is untouched until the last rename.
        if link(indexPath, scratch) != 0 && errno != ENOENT, let bytes = try? FileIO.read(indexPath) {
            try FileIO.writeAtomically(scratch, bytes: bytes, mode: 0o644, sync: false)
        }
        var index: OpaquePointer?
        try Libgit2.check(git_index_open(&index, scratch), "git_index_open")
        defer { git_index_free(index) }
        for (path, entry) in entries {
            if var entry {
                try path.withCString { cPath in
                    entry.path = cPath
                    try Libgit2.check(git_index_add(index, &entry), "git_index_add")
                }
            } else {
                let rc = git_index_remove_bypath(index, path)
                if rc != Libgit2.notFound { try Libgit2.check(rc, "git_index_remove_bypath") }
            }
        }
        // A complete cache tree (the TREE extension), as `git commit` leaves it: git's plain
        // commit writes back the index it read before taking index.lock only when its refresh
        // changed something, and an invalidated cache tree counts. The trees are HEAD's in the
        // usual case, so nothing new is written. An index with conflicts has no tree: skipped.
        var tree = git_oid()
        _ = git_index_write_tree_to(&tree, index, pointer)
        try Libgit2.check(git_index_write(index), "git_index_write")
        guard rename(scratch, indexPath) == 0 else {
            throw AgentError.internal("cannot replace \(indexPath): \(FileIO.errnoMessage())")
        }
    }
}
