import CLibgit2
#if canImport(Glibc)
import Glibc
#endif

/// References: reading them, the compare-and-swap that is a write's commit point, their locks.
extension GitRepository {
    /// The commit a reference points at, nil when it does not exist.
    public func referenceTarget(_ name: String) throws -> ObjectID? {
        var oid = git_oid()
        let rc = git_reference_name_to_id(&oid, pointer, name)
        if rc == Libgit2.notFound { return nil }
        try Libgit2.check(rc, "git_reference_name_to_id")
        return ObjectID(oid)
    }

    /// Compare-and-swap of `reference`: moves it to `new` only while it still points at
    /// `expected` (or does not exist yet when `expected` is nil). Returns false when another
    /// writer got there first.
    public func moveReference(_ reference: String, to new: ObjectID, expecting expected: ObjectID?,
                              logMessage: String) throws -> Bool {
        var ref: OpaquePointer?
        var target = new.raw
        let rc: Int32
        if var current = expected?.raw {
            rc = git_reference_create_matching(&ref, pointer, reference, &target, 1, &current, logMessage)
        } else {
            rc = git_reference_create(&ref, pointer, reference, &target, 0, logMessage)
        }
        if rc >= 0 {
            git_reference_free(ref)
            return true
        }
        if Libgit2.isLostRace(rc) { return false }
        try Libgit2.check(rc, "git_reference_create")
        return false
    }

    /// The lock file git and libgit2 take to move `reference` (HEAD's own when detached).
    public func lockPath(of reference: String) -> String {
        (reference == "HEAD" ? gitDirectory : commonDirectory) + reference + ".lock"
    }

    /// The commit in `.git/MERGE_HEAD` while a git merge is in progress.
    public func mergeHead() -> ObjectID? {
        guard let bytes = try? FileIO.read(gitDirectory + "MERGE_HEAD") else { return nil }
        return ObjectID(hex: String(decoding: bytes.prefix(40), as: UTF8.self))
    }
}
