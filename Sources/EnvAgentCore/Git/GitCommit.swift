import CLibgit2

/// A commit object, read-only. Owns its libgit2 handle.
public final class GitCommit {
    let pointer: OpaquePointer
    let repository: GitRepository

    init(pointer: OpaquePointer, repository: GitRepository) {
        self.pointer = pointer
        self.repository = repository
    }

    deinit { git_commit_free(pointer) }

    public var id: ObjectID { ObjectID(git_commit_id(pointer).pointee) }

    public var summary: String { git_commit_summary(pointer).map { String(cString: $0) } ?? "" }

    /// The whole message (summary, body and trailers).
    public var message: String { git_commit_message(pointer).map { String(cString: $0) } ?? "" }

    public var authorName: String { git_commit_author(pointer).pointee.name.map { String(cString: $0) } ?? "" }

    public var authorEmail: String { git_commit_author(pointer).pointee.email.map { String(cString: $0) } ?? "" }

    /// Author time in seconds since the epoch (UTC).
    public var time: Int64 { git_commit_author(pointer).pointee.when.time }

    public var parentIDs: [ObjectID] {
        (0..<git_commit_parentcount(pointer)).compactMap { index in
            git_commit_parent_id(pointer, index).map { ObjectID($0.pointee) }
        }
    }

    public func tree() throws -> GitTree {
        var tree: OpaquePointer?
        try Libgit2.check(git_commit_tree(&tree, pointer), "git_commit_tree")
        return GitTree(pointer: tree!, repository: repository)
    }
}
