import CLibgit2
#if canImport(Glibc)
import Glibc
#endif

/// Diffs: which blobs a commit changed and which lines a change added.
extension GitRepository {
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

    static func changedFiles(_ diff: OpaquePointer?) -> [StagedFile] {
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
}
