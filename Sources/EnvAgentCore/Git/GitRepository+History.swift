import CLibgit2
#if canImport(Glibc)
import Glibc
#endif

/// Walking history: commits reachable from a point, all commits, merge bases.
extension GitRepository {
    /// Commits reachable from `start`, newest first; `body` returns false to stop.
    public func walk(from start: ObjectID, _ body: (GitCommit) throws -> Bool) throws {
        var walker: OpaquePointer?
        try Libgit2.check(git_revwalk_new(&walker, pointer), "git_revwalk_new")
        defer { git_revwalk_free(walker) }
        git_revwalk_sorting(walker, GIT_SORT_TOPOLOGICAL.rawValue | GIT_SORT_TIME.rawValue)
        var oid = start.raw
        try Libgit2.check(git_revwalk_push(walker, &oid), "git_revwalk_push")
        var next = git_oid()
        while git_revwalk_next(&next, walker) == 0 {
            guard try body(commit(ObjectID(next))) else { return }
        }
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
}
