import CLibgit2

/// A file staged for the next commit whose blob differs from HEAD's.
public struct StagedFile: Sendable, Equatable {
    /// Path relative to the working tree, `/`-separated.
    public let path: String
    public let blob: ObjectID
    /// The blob at HEAD, nil for a file that HEAD does not have.
    public let previous: ObjectID?
}

/// Reading staged content and line-level changes of blobs, for the pre-commit leak guard.
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

    /// Blobs that `commit` adds or changes relative to its first parent (every blob of a root
    /// commit). Walking all commits this way visits every reachable blob at least once.
    public func changedBlobs(in commit: GitCommit) throws -> [StagedFile] {
        let tree = try commit.tree()
        let parentTree = try commit.parentIDs.first.map { try self.commit($0).tree() }
        var options = git_diff_options()
        try Libgit2.check(git_diff_options_init(&options, UInt32(GIT_DIFF_OPTIONS_VERSION)), "git_diff_options_init")
        options.flags = GIT_DIFF_IGNORE_SUBMODULES.rawValue
        var diff: OpaquePointer?
        try Libgit2.check(git_diff_tree_to_tree(&diff, pointer, parentTree?.pointer, tree.pointer, &options), "git_diff_tree_to_tree")
        defer { git_diff_free(diff) }
        return Self.changedFiles(diff)
    }

    private static func changedFiles(_ diff: OpaquePointer?) -> [StagedFile] {
        var files: [StagedFile] = []
        let count = git_diff_num_deltas(diff)
        files.reserveCapacity(count)
        for index in 0..<count {
            guard let delta = git_diff_get_delta(diff, index)?.pointee else { continue }
            switch delta.status {
            case GIT_DELTA_ADDED, GIT_DELTA_MODIFIED, GIT_DELTA_TYPECHANGE, GIT_DELTA_RENAMED, GIT_DELTA_COPIED:
                break
            default:
                continue
            }
            let mode = UInt32(delta.new_file.mode)
            guard mode != GIT_FILEMODE_COMMIT.rawValue, mode != GIT_FILEMODE_TREE.rawValue,
                  let cPath = delta.new_file.path else { continue }
            let oldMode = UInt32(delta.old_file.mode)
            var oldID = delta.old_file.id
            let hadBlob = delta.status != GIT_DELTA_ADDED && oldMode != GIT_FILEMODE_COMMIT.rawValue
                && oldMode != 0 && git_oid_is_zero(&oldID) == 0
            files.append(StagedFile(path: String(cString: cPath), blob: ObjectID(delta.new_file.id),
                                    previous: hadBlob ? ObjectID(delta.old_file.id) : nil))
        }
        return files
    }

    /// Calls `body` with a blob's raw content, without copying it out of libgit2.
    public func withBlob<R>(_ id: ObjectID, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        var oid = id.raw
        var blob: OpaquePointer?
        try Libgit2.check(git_blob_lookup(&blob, pointer, &oid), "git_blob_lookup")
        defer { git_blob_free(blob) }
        let size = Int(git_blob_rawsize(blob))
        return try body(UnsafeRawBufferPointer(start: size > 0 ? git_blob_rawcontent(blob) : nil, count: size))
    }

    /// The line ranges (1-based, in `new`) that a diff from `old` to `new` adds or changes.
    /// Binary content is diffed as text, so every changed line is found.
    public func addedLines(from old: ObjectID, to new: ObjectID) throws -> [ClosedRange<Int>] {
        var oldOid = old.raw, newOid = new.raw
        var oldBlob: OpaquePointer?, newBlob: OpaquePointer?
        try Libgit2.check(git_blob_lookup(&oldBlob, pointer, &oldOid), "git_blob_lookup")
        defer { git_blob_free(oldBlob) }
        try Libgit2.check(git_blob_lookup(&newBlob, pointer, &newOid), "git_blob_lookup")
        defer { git_blob_free(newBlob) }
        var options = git_diff_options()
        try Libgit2.check(git_diff_options_init(&options, UInt32(GIT_DIFF_OPTIONS_VERSION)), "git_diff_options_init")
        options.context_lines = 0
        options.flags = GIT_DIFF_FORCE_TEXT.rawValue
        var patch: OpaquePointer?
        try Libgit2.check(git_patch_from_blobs(&patch, oldBlob, nil, newBlob, nil, &options), "git_patch_from_blobs")
        defer { git_patch_free(patch) }
        var ranges: [ClosedRange<Int>] = []
        for index in 0..<git_patch_num_hunks(patch) {
            var hunk: UnsafePointer<git_diff_hunk>?
            var lines = 0
            try Libgit2.check(git_patch_get_hunk(&hunk, &lines, patch, index), "git_patch_get_hunk")
            guard let hunk = hunk?.pointee, hunk.new_lines > 0 else { continue }
            let start = Int(hunk.new_start)
            ranges.append(start...(start + Int(hunk.new_lines) - 1))
        }
        return ranges
    }

    /// Every commit reachable from any reference or HEAD, oldest first.
    public func walkAllCommits(_ body: (GitCommit) throws -> Void) throws {
        var walker: OpaquePointer?
        try Libgit2.check(git_revwalk_new(&walker, pointer), "git_revwalk_new")
        defer { git_revwalk_free(walker) }
        git_revwalk_sorting(walker, GIT_SORT_TOPOLOGICAL.rawValue | GIT_SORT_REVERSE.rawValue)
        try Libgit2.check(git_revwalk_push_glob(walker, "refs/*"), "git_revwalk_push_glob")
        let rc = git_revwalk_push_head(walker)
        if rc != Libgit2.notFound && rc != GIT_EUNBORNBRANCH.rawValue { try Libgit2.check(rc, "git_revwalk_push_head") }
        var next = git_oid()
        while git_revwalk_next(&next, walker) == 0 {
            try body(commit(ObjectID(next)))
        }
    }
}
