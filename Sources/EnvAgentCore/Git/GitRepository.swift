import CLibgit2
#if canImport(Glibc)
import Glibc
#endif

/// A git repository opened through libgit2. Owns the handle; callers only see Swift values and
/// the `GitTree`/`GitCommit` wrappers.
public final class GitRepository {
    let pointer: OpaquePointer

    private var fastLooseWriterAdded = false

    private init(pointer: OpaquePointer) { self.pointer = pointer }

    deinit { git_repository_free(pointer) }

    /// Opens the repository at `path` exactly, or (with `search`) the one containing it.
    public static func open(_ path: String, search: Bool) throws -> GitRepository? {
        try Libgit2.ensureInitialized()
        var repo: OpaquePointer?
        let flags = search ? 0 : GIT_REPOSITORY_OPEN_NO_SEARCH.rawValue
        let rc = git_repository_open_ext(&repo, path, flags, nil)
        if rc == Libgit2.notFound { return nil }
        try Libgit2.check(rc, "git_repository_open_ext")
        return GitRepository(pointer: repo!)
    }

    /// `git init` (or `git init --bare`) at `path`.
    public static func initialize(_ path: String, bare: Bool) throws -> GitRepository {
        try Libgit2.ensureInitialized()
        var repo: OpaquePointer?
        try Libgit2.check(git_repository_init(&repo, path, bare ? 1 : 0), "git_repository_init")
        return GitRepository(pointer: repo!)
    }

    public var isBare: Bool { git_repository_is_bare(pointer) != 0 }

    /// The working directory with a trailing slash, nil for a bare repository.
    public var workdir: String? { git_repository_workdir(pointer).map { String(cString: $0) } }

    /// The `.git` folder (or the bare repository itself), with a trailing slash.
    public var gitDirectory: String { String(cString: git_repository_path(pointer)) }

    // MARK: Reading

    /// The reference HEAD points at (`refs/heads/main`, or `HEAD` when detached) and its commit,
    /// nil on an unborn branch.
    public func head() throws -> (reference: String, commit: ObjectID?) {
        var ref: OpaquePointer?
        try Libgit2.check(git_reference_lookup(&ref, pointer, "HEAD"), "git_reference_lookup")
        defer { git_reference_free(ref) }
        guard git_reference_type(ref) == GIT_REFERENCE_SYMBOLIC else {
            return ("HEAD", git_reference_target(ref).map { ObjectID($0.pointee) })
        }
        let name = String(cString: git_reference_symbolic_target(ref))
        var oid = git_oid()
        let rc = git_reference_name_to_id(&oid, pointer, name)
        if rc == Libgit2.notFound { return (name, nil) }
        try Libgit2.check(rc, "git_reference_name_to_id")
        return (name, ObjectID(oid))
    }

    public func commit(_ id: ObjectID) throws -> GitCommit {
        var oid = id.raw
        var commit: OpaquePointer?
        try Libgit2.check(git_commit_lookup(&commit, pointer, &oid), "git_commit_lookup")
        return GitCommit(pointer: commit!, repository: self)
    }

    public func tree(_ id: ObjectID) throws -> GitTree {
        var oid = id.raw
        var tree: OpaquePointer?
        try Libgit2.check(git_tree_lookup(&tree, pointer, &oid), "git_tree_lookup")
        return GitTree(pointer: tree!, repository: self)
    }

    public func blob(_ id: ObjectID) throws -> [UInt8] {
        var oid = id.raw
        var blob: OpaquePointer?
        try Libgit2.check(git_blob_lookup(&blob, pointer, &oid), "git_blob_lookup")
        defer { git_blob_free(blob) }
        let size = Int(git_blob_rawsize(blob))
        guard size > 0, let content = git_blob_rawcontent(blob) else { return [] }
        return Array(UnsafeRawBufferPointer(start: content, count: size))
    }

    /// Calls `body` with a blob's raw content, without copying it out of libgit2.
    public func withBlob<R>(_ id: ObjectID, _ body: (Span<UInt8>) throws -> R) throws -> R {
        var oid = id.raw
        var blob: OpaquePointer?
        try Libgit2.check(git_blob_lookup(&blob, pointer, &oid), "git_blob_lookup")
        defer { git_blob_free(blob) }
        let size = Int(git_blob_rawsize(blob))
        let content = UnsafeRawBufferPointer(start: size > 0 ? git_blob_rawcontent(blob) : nil, count: size)
        return try body(content.assumingMemoryBound(to: UInt8.self).span) // valid while the blob is held
    }

    // MARK: Writing objects

    public func writeBlob(_ bytes: [UInt8]) throws -> ObjectID {
        try writeLooseObjectsFast()
        var oid = git_oid()
        _ = try bytes.withUnsafeBytes { raw in
            try Libgit2.check(git_blob_create_from_buffer(&oid, pointer, raw.baseAddress, raw.count),
                              "git_blob_create_from_buffer")
        }
        return ObjectID(oid)
    }

    /// A blob of exactly `size` bytes, hashed and compressed piece by piece as `produce` hands
    /// them over (through `write`), so the slowest part of writing a large file overlaps the
    /// work that produces it. Nothing is stored when `produce` throws or the byte count is off.
    public func writeBlob(size: Int, _ produce: (_ write: (Span<UInt8>) throws -> Void) throws -> Void) throws -> ObjectID {
        try writeLooseObjectsFast()
        var odb: OpaquePointer?
        try Libgit2.check(git_repository_odb(&odb, pointer), "git_repository_odb")
        defer { git_odb_free(odb) }
        var stream: UnsafeMutablePointer<git_odb_stream>?
        try Libgit2.check(git_odb_open_wstream(&stream, odb, git_object_size_t(size), GIT_OBJECT_BLOB), "git_odb_open_wstream")
        defer { git_odb_stream_free(stream) } // without a finalized write, this removes the temporary file
        var written = 0
        try produce { piece in
            guard !piece.isEmpty else { return }
            written += piece.count
            guard written <= size else { throw AgentError.internal("a streamed blob grew past its declared \(size) bytes") }
            let rc = piece.withUnsafeBufferPointer { buffer in
                buffer.withMemoryRebound(to: CChar.self) { git_odb_stream_write(stream, $0.baseAddress, $0.count) }
            }
            try Libgit2.check(rc, "git_odb_stream_write")
        }
        guard written == size else { throw AgentError.internal("a streamed blob has \(written) bytes, not its declared \(size)") }
        var oid = git_oid()
        try Libgit2.check(git_odb_stream_finalize_write(&oid, stream), "git_odb_stream_finalize_write")
        return ObjectID(oid)
    }

    /// Loose objects are written with zlib level 1, git's own default for them
    /// (`core.looseCompression`), instead of libgit2's level 6: a 1.8 MB secrets file compresses in
    /// 22 ms instead of 28 for 4 % more bytes, and packing recompresses them soon after. Done by
    /// adding a second loose backend on the same folder ahead of the default one; reads and
    /// packs are unaffected. Once per handle, on the first write.
    private func writeLooseObjectsFast() throws {
        guard !fastLooseWriterAdded else { return }
        fastLooseWriterAdded = true
        var odb: OpaquePointer?
        try Libgit2.check(git_repository_odb(&odb, pointer), "git_repository_odb")
        defer { git_odb_free(odb) }
        var backend: UnsafeMutablePointer<git_odb_backend>?
        try Libgit2.check(git_odb_backend_loose(&backend, objectsDirectory, 1, 0, 0, 0), "git_odb_backend_loose")
        let rc = git_odb_add_backend(odb, backend, 3) // above the packs (2) and the default loose backend (1)
        if rc < 0 { backend?.pointee.free(backend) }
        try Libgit2.check(rc, "git_odb_add_backend")
    }

    /// A new tree: `base` (or the empty tree) with each path set to a blob, or removed when nil.
    /// Touches neither the index nor the working tree.
    public func updatedTree(base: GitTree?, changes: [(path: String, blob: ObjectID?)]) throws -> ObjectID {
        let baseline = try base ?? emptyTree()
        let paths = changes.map { strdup($0.path)! }
        defer { paths.forEach { free($0) } }
        var updates = changes.enumerated().map { index, change in
            git_tree_update(action: change.blob == nil ? GIT_TREE_UPDATE_REMOVE : GIT_TREE_UPDATE_UPSERT,
                            id: change.blob?.raw ?? git_oid(),
                            filemode: GIT_FILEMODE_BLOB,
                            path: UnsafePointer(paths[index]))
        }
        var oid = git_oid()
        try Libgit2.check(git_tree_create_updated(&oid, pointer, baseline.pointer, updates.count, &updates),
                          "git_tree_create_updated")
        return ObjectID(oid)
    }

    private func emptyTree() throws -> GitTree {
        var builder: OpaquePointer?
        try Libgit2.check(git_treebuilder_new(&builder, pointer, nil), "git_treebuilder_new")
        defer { git_treebuilder_free(builder) }
        var oid = git_oid()
        try Libgit2.check(git_treebuilder_write(&oid, builder), "git_treebuilder_write")
        return try tree(ObjectID(oid))
    }

    /// Writes a commit object (moving no reference). Author and committer come from git config
    /// (`user.name`, `user.email`), else a fallback that names the tool.
    public func createCommit(tree treeID: ObjectID, parent: ObjectID?, message: String) throws -> ObjectID {
        try createCommit(tree: treeID, parents: parent.map { [$0] } ?? [], message: message)
    }

    public func createCommit(tree treeID: ObjectID, parents parentIDs: [ObjectID], message: String) throws -> ObjectID {
        let tree = try tree(treeID)
        let parentCommits = try parentIDs.map { try commit($0) }
        var signature: UnsafeMutablePointer<git_signature>?
        if git_signature_default(&signature, pointer) < 0 {
            let user = FileIO.environment("USER") ?? "agent"
            try Libgit2.check(git_signature_now(&signature, "EnvAgent (\(user))", "\(user)@localhost"),
                              "git_signature_now")
        }
        defer { git_signature_free(signature) }
        var oid = git_oid()
        var parents: [OpaquePointer?] = parentCommits.map(\.pointer)
        _ = try parents.withUnsafeMutableBufferPointer { buffer in
            try Libgit2.check(git_commit_create(&oid, pointer, nil, signature, signature, nil, message, tree.pointer,
                                                buffer.count, buffer.baseAddress),
                              "git_commit_create")
        }
        return ObjectID(oid)
    }
}
