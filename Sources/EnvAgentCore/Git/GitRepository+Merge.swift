import CLibgit2

/// What sync needs beyond single commits: ancestry, a tree-level merge, moving HEAD's branch
/// with the working tree, and creating merge commits.
extension GitRepository {
    /// The commit a reference points at, nil when it does not exist.
    public func referenceTarget(_ name: String) throws -> ObjectID? {
        var oid = git_oid()
        let rc = git_reference_name_to_id(&oid, pointer, name)
        if rc == Libgit2.notFound { return nil }
        try Libgit2.check(rc, "git_reference_name_to_id")
        return ObjectID(oid)
    }

    /// The best common ancestor of two commits, nil when they share no history.
    public func mergeBase(_ a: ObjectID, _ b: ObjectID) throws -> ObjectID? {
        var out = git_oid(), x = a.raw, y = b.raw
        let rc = git_merge_base(&out, pointer, &x, &y)
        if rc == Libgit2.notFound { return nil }
        try Libgit2.check(rc, "git_merge_base")
        return ObjectID(out)
    }

    /// True when `commit` has `ancestor` in its history (and is not `ancestor` itself).
    public func isDescendant(_ commit: ObjectID, of ancestor: ObjectID) throws -> Bool {
        var c = commit.raw, a = ancestor.raw
        return try Libgit2.check(git_graph_descendant_of(pointer, &c, &a), "git_graph_descendant_of") == 1
    }

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

    /// Brings the index and working tree from HEAD's tree to `commit`'s tree without touching
    /// local changes (a safe checkout: a file modified locally that must change is an error).
    /// Does nothing in a bare repository. HEAD itself is moved by the caller.
    public func checkoutTree(of commitID: ObjectID) throws {
        guard !isBare else { return }
        let target = try commit(commitID)
        var options = git_checkout_options()
        try Libgit2.check(git_checkout_options_init(&options, UInt32(GIT_CHECKOUT_OPTIONS_VERSION)), "git_checkout_options_init")
        options.checkout_strategy = GIT_CHECKOUT_SAFE.rawValue
        let tree = try target.tree()
        let rc = git_checkout_tree(pointer, tree.pointer, &options)
        if rc == GIT_ECONFLICT.rawValue {
            throw AgentError(.invalidRequest, "local changes in the working tree would be overwritten: \(Libgit2.lastErrorMessage())",
                             hint: "commit or stash them (git stash), then sync again")
        }
        try Libgit2.check(rc, "git_checkout_tree")
    }
}

extension GitRepository {
    /// Sets `key` in the repository's own config (`.git/config`).
    public func setConfig(_ key: String, _ value: String) throws {
        var config: OpaquePointer?
        try Libgit2.check(git_repository_config(&config, pointer), "git_repository_config")
        defer { git_config_free(config) }
        var local: OpaquePointer?
        try Libgit2.check(git_config_open_level(&local, config, GIT_CONFIG_LEVEL_LOCAL), "git_config_open_level")
        defer { git_config_free(local) }
        try Libgit2.check(git_config_set_string(local, key, value), "git_config_set_string")
    }

    /// The commit in `.git/MERGE_HEAD` while a git merge is in progress.
    public func mergeHead() -> ObjectID? {
        guard let bytes = try? FileIO.read(gitDirectory + "MERGE_HEAD") else { return nil }
        return ObjectID(hex: String(decoding: bytes.prefix(40), as: UTF8.self))
    }
}
