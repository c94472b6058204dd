import CLibgit2
#if canImport(Glibc)
import Glibc
#endif

/// The working tree: ignore rules and checking out a tree.
extension GitRepository {
    /// Whether `path` (relative to the working tree; a folder ends with `/`) is ignored by git.
    public func isIgnored(_ path: String) throws -> Bool {
        var ignored: Int32 = 0
        try Libgit2.check(git_ignore_path_is_ignored(&ignored, pointer, path), "git_ignore_path_is_ignored")
        return ignored != 0
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
