import CLibgit2

/// A tree object, read-only. Owns its libgit2 handle.
public final class GitTree {
    let pointer: OpaquePointer
    let repository: GitRepository

    init(pointer: OpaquePointer, repository: GitRepository) {
        self.pointer = pointer
        self.repository = repository
    }

    deinit { git_tree_free(pointer) }

    public var id: ObjectID { ObjectID(git_tree_id(pointer).pointee) }

    /// The id of the entry at `path` (a blob or a subtree), nil when there is none.
    public func entryID(at path: String) throws -> ObjectID? {
        var entry: OpaquePointer?
        let rc = git_tree_entry_bypath(&entry, pointer, path)
        if rc == Libgit2.notFound { return nil }
        try Libgit2.check(rc, "git_tree_entry_bypath")
        defer { git_tree_entry_free(entry) }
        return ObjectID(git_tree_entry_id(entry).pointee)
    }

    /// The id of the file (blob) at `path`, nil when there is none; an error naming `path`
    /// when something else is there (a folder or a submodule), which must not read as empty.
    public func fileID(at path: String) throws -> ObjectID? {
        var entry: OpaquePointer?
        let rc = git_tree_entry_bypath(&entry, pointer, path)
        if rc == Libgit2.notFound { return nil }
        try Libgit2.check(rc, "git_tree_entry_bypath")
        defer { git_tree_entry_free(entry) }
        guard git_tree_entry_type(entry) == GIT_OBJECT_BLOB else {
            throw AgentError(.internalError, "\(path) is not a file (a folder or a submodule is there)",
                             details: [.init(loc: [path], msg: "not a file", type: "not_a_file")],
                             hint: "put the file back from the commit that replaced it (`git log -- \(path)`)")
        }
        return ObjectID(git_tree_entry_id(entry).pointee)
    }

    /// The contents of the file at `path`, nil when there is none (see `fileID(at:)`).
    public func blob(at path: String) throws -> [UInt8]? {
        guard let id = try fileID(at: path) else { return nil }
        return try repository.blob(id)
    }

    /// Names of the subtrees directly below `path`.
    public func subtreeNames(at path: String) throws -> [String] {
        guard let id = try entryID(at: path) else { return [] }
        var oid = id.raw
        var sub: OpaquePointer?
        let rc = git_tree_lookup(&sub, repository.pointer, &oid)
        if rc < 0 { return [] } // not a tree
        defer { git_tree_free(sub) }
        var names: [String] = []
        for index in 0..<git_tree_entrycount(sub) {
            guard let entry = git_tree_entry_byindex(sub, index),
                  git_tree_entry_type(entry) == GIT_OBJECT_TREE else { continue }
            names.append(String(cString: git_tree_entry_name(entry)))
        }
        return names
    }
}
