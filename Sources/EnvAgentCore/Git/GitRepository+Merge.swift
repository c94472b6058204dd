import CLibgit2

/// The tree-level three-way merge that sync runs for every path it does not merge itself.
extension GitRepository {
    /// Three-way merge of trees by libgit2 for every path; paths for which `isOwnedByCaller`
    /// returns true are left out of the result (the caller merges them itself). Returns the
    /// merged tree (without those paths) and the other paths that conflict.
    public func mergeTrees(base: ObjectID?, ours: ObjectID, theirs: ObjectID,
                           isOwnedByCaller: (String) -> Bool) throws -> (tree: ObjectID, conflicts: [String]) {
        let ancestor = try base.map { try commit($0).tree() }
        let ourTree = try commit(ours).tree(), theirTree = try commit(theirs).tree()
        var options = git_merge_options()
        try Libgit2.check(git_merge_options_init(&options, UInt32(GIT_MERGE_OPTIONS_VERSION)), "git_merge_options_init")
        var index: OpaquePointer?
        try Libgit2.check(git_merge_trees(&index, pointer, ancestor?.pointer, ourTree.pointer, theirTree.pointer, &options),
                          "git_merge_trees")
        defer { git_index_free(index) }
        // Drop every entry (conflicted or not) the caller owns; collect the other conflicts.
        var owned: Set<String> = [], conflicts: Set<String> = []
        for position in 0..<git_index_entrycount(index) {
            guard let entry = git_index_get_byindex(index, position), let path = entry.pointee.path.map({ String(cString: $0) }) else { continue }
            if isOwnedByCaller(path) { owned.insert(path) }
            else if (UInt32(entry.pointee.flags) >> 12) & 0x3 != 0 { conflicts.insert(path) }
        }
        for path in owned {
            if git_index_conflict_remove(index, path) < 0 { _ = git_error_last() }
            let rc = git_index_remove_bypath(index, path)
            if rc != Libgit2.notFound { try Libgit2.check(rc, "git_index_remove_bypath") }
        }
        guard conflicts.isEmpty else { return (ourTree.id, conflicts.sorted()) }
        var oid = git_oid()
        try Libgit2.check(git_index_write_tree_to(&oid, index, pointer), "git_index_write_tree_to")
        return (ObjectID(oid), [])
    }
}
