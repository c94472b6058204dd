#if canImport(Glibc)
import Glibc
#endif

/// A change to the store's files: path → new contents (nil removes), and the commit message.
public struct StoreChange {
    public var files: [String: [UInt8]?]
    /// Files whose contents are produced while their blobs are written (a large secrets file
    /// being sealed); a path is in `files` or here, not both.
    public var streamedFiles: [String: StreamedFile]
    public var message: String

    public init(files: [String: [UInt8]?] = [:], streamedFiles: [String: StreamedFile] = [:], message: String) {
        self.files = files
        self.streamedFiles = streamedFiles
        self.message = message
    }
}

/// Contents of a known size handed over piece by piece: `produce` passes exactly `size` bytes
/// to its argument, in order (see `GitRepository.writeBlob(size:_:)`).
public struct StreamedFile {
    public let size: Int
    public let produce: (_ emit: (Span<UInt8>) throws -> Void) throws -> Void

    public init(size: Int, produce: @escaping (_ emit: (Span<UInt8>) throws -> Void) throws -> Void) {
        self.size = size
        self.produce = produce
    }
}

/// The store inside one git repository. Every change becomes exactly one commit, built from
/// HEAD's tree (never the index) and published by compare-and-swap of HEAD's branch.
public final class Store {
    public let repository: GitRepository
    /// When packing follows a commit or fetch (see `PackingPolicy`).
    public var packing: PackingPolicy = .inline
    /// Whether a `.background` pack was started (once per handle is enough).
    var backgroundPackStarted = false
    /// How many times a change is rebuilt on a new HEAD after losing a race.
    static let maxAttempts = 64

    public init(repository: GitRepository) { self.repository = repository }

    /// Opens the repository at `path`, or the one containing the current directory.
    public static func open(path: String?) throws -> Store {
        let target = path ?? FileIO.currentDirectory()
        guard let repository = try GitRepository.open(target, search: path == nil) else {
            throw AgentError(.notFound, "no git repository at \(path ?? "or above \(target)")",
                             hint: "run `agent init` there, or pass --store PATH")
        }
        return Store(repository: repository)
    }

    public func snapshot() throws -> StoreSnapshot {
        let head = try repository.head()
        let tree = try head.commit.map { try repository.commit($0).tree() }
        return StoreSnapshot(reference: head.reference, commit: head.commit, tree: tree)
    }

    /// Builds a change on the current HEAD and commits it; on a lost race the change is rebuilt
    /// on the new HEAD and retried. `build` returns nil when there is nothing to change.
    /// Returns the new commit, or nil when nothing changed.
    @discardableResult
    public func apply(_ build: (StoreSnapshot) throws -> StoreChange?) throws -> ObjectID? {
        let commit = try commit(build)
        if commit != nil { try objectsWritten() }
        return commit
    }

    /// The commit of `apply`, under the write lock (packing follows outside it).
    private func commit(_ build: (StoreSnapshot) throws -> StoreChange?) throws -> ObjectID? {
        try withWriteLock {
            removeLeftoverTempFiles()
            // Paths an earlier attempt staged and then put back after losing the race.
            var putBack: [String] = []
            for attempt in 0..<Self.maxAttempts {
                let snapshot = try snapshot()
                guard let change = try build(snapshot) else {
                    try syncWithBranch(putBack)
                    return nil
                }
                let paths = change.files.keys.sorted()
                var blobs = try paths.map { path in
                    (path: path, blob: try change.files[path]!.map { (id: try repository.writeBlob($0), bytes: $0) })
                }
                for path in change.streamedFiles.keys.sorted() {
                    let file = change.streamedFiles[path]!
                    var bytes: [UInt8] = [] // kept for the working-tree copy
                    bytes.reserveCapacity(file.size)
                    let id = try repository.writeBlob(size: file.size) { write in
                        try file.produce { piece in
                            try write(piece)
                            Bytes.append(piece, to: &bytes)
                        }
                    }
                    blobs.append((path: path, blob: (id: id, bytes: bytes)))
                }
                let treeID = try repository.updatedTree(base: snapshot.tree, changes: blobs.map { ($0.path, $0.blob?.id) })
                if treeID == snapshot.tree?.id {
                    try syncWithBranch(putBack)
                    return nil
                }
                let commitID = try repository.createCommit(tree: treeID, parent: snapshot.commit, message: change.message)
                if try publish(commitID, on: snapshot, files: blobs, message: change.message) {
                    return commitID
                }
                // Another writer (the git CLI, another machine's push) moved the branch.
                putBack = blobs.map(\.path)
                usleep(UInt32.random(in: 1_000...(5_000 * UInt32(min(attempt + 1, 10)))))
            }
            throw AgentError.internal("the branch kept moving: gave up after \(Self.maxAttempts) attempts")
        }
    }

    /// Moves the branch to `commit` (built on `snapshot`) and brings the index and work-tree
    /// copies of `files` along, holding git's `index.lock` throughout, so no git command can
    /// commit the index of before the change on top of it. In this order:
    /// 1. create `index.lock` (O_EXCL) holding a `LockOwner` record: pid, boot id, the paths;
    /// 2. write the work-tree files, then the index (renamed over `index`);
    /// 3. compare-and-swap the branch: the commit point;
    /// 4. remove `index.lock`.
    /// A crash before 3 leaves the index and files ahead of the branch: a later `git commit`
    /// would commit the new value, never put back an old one. The next agent write proves the
    /// holder died (`LockOwner.hasDied`) and puts those paths back to the branch's version;
    /// git itself refuses to run until then, or until someone removes the lock. A crash after 3
    /// leaves the new state behind the same lock. Returns false when another writer moved the
    /// branch first: the paths are put back to the branch's current version and the lock is
    /// released, so that writer (usually git) can go on before the change is rebuilt.
    private func publish(_ commit: ObjectID, on snapshot: StoreSnapshot,
                         files: [(path: String, blob: (id: ObjectID, bytes: [UInt8])?)], message: String) throws -> Bool {
        let moveBranch: () throws -> Bool = {
            if try self.repository.moveReference(snapshot.reference, to: commit, expecting: snapshot.commit,
                                                 logMessage: "agent: \(message)") { return true }
            // Name a lock that is not let go (a crash) instead of retrying 64 times.
            try GitLockFile.waitForRelease(self.repository.lockPath(of: snapshot.reference))
            return false
        }
        guard !repository.isBare else { return try moveBranch() }
        let lock = repository.indexLockPath
        try GitLockFile.acquire(lock, record: LockOwner.current(paths: files.map(\.path)).encoded,
                                recoverAbandoned: recoverAbandonedIndexLock)
        defer { GitLockFile.release(lock) }
        // On a lost race the paths go back to the branch's version as it is now, not as it was
        // in `snapshot`: a plain `git commit` that re-read the index after our stage may have
        // committed our new files itself, and the retry then finds nothing to change.
        do {
            try repository.stage(files)
            if try moveBranch() { return true }
        } catch {
            try? repository.stage(contents(of: files.map(\.path), in: self.snapshot()))
            throw error
        }
        try repository.stage(contents(of: files.map(\.path), in: self.snapshot()))
        return false
    }

    /// After a lost race the change may already be on the branch: a plain `git commit` that
    /// re-read the index after its hooks can commit what `publish` had staged, and move the
    /// branch only after `publish` put the paths back to the version it saw. When the retry then
    /// finds nothing to change, the index and work tree of `paths` are brought to the branch's
    /// version here, under `index.lock`, so that the next `git commit` does not revert them.
    private func syncWithBranch(_ paths: [String]) throws {
        guard !paths.isEmpty, !repository.isBare else { return }
        let lock = repository.indexLockPath
        try GitLockFile.acquire(lock, record: LockOwner.current(paths: paths).encoded,
                                recoverAbandoned: recoverAbandonedIndexLock)
        defer { GitLockFile.release(lock) }
        try repository.stage(contents(of: paths, in: snapshot()))
    }

    /// An `index.lock` that an agent left when it died (only ours name their owner: git's
    /// hold no pid, so they are never taken over): its paths are put back to the branch's
    /// version, which is the new one when the crash came after the commit point. Called while
    /// holding the write lock, so no live agent of this repository is inside `publish`.
    private func recoverAbandonedIndexLock(_ content: [UInt8]) throws -> Bool {
        guard let owner = LockOwner(parsing: content), owner.hasDied else { return false }
        try repository.stage(contents(of: owner.paths, in: snapshot()))
        return true
    }

    func contents(of paths: [String], in snapshot: StoreSnapshot) throws -> [(path: String, blob: (id: ObjectID, bytes: [UInt8])?)] {
        try paths.map { path in
            (path, try snapshot.fileID(path).map { (id: $0, bytes: try repository.blob($0)) })
        }
    }

    /// Temp files of `FileIO.writeAtomically` in the store's work-tree folders, left by a
    /// process killed while writing. Only agent writers make them, under the write lock.
    private func removeLeftoverTempFiles() {
        guard let workdir = repository.workdir else { return }
        let root = workdir + StoreFormat.folder
        for folder in [root] + FileIO.directoryEntries(root).map({ root + "/" + $0 }) where FileIO.isDirectory(folder) {
            for name in FileIO.directoryEntries(folder) where name.hasPrefix(".") && name.contains(".tmp-") {
                FileIO.remove(folder + "/" + name)
            }
        }
    }

    /// Serialises agent writers of this repository (an advisory `flock`, released if the
    /// process dies). Compare-and-swap still guards against writers that do not take it.
    func withWriteLock<T>(_ body: () throws -> T) throws -> T {
        try FileIO.withExclusiveLock(repository.gitDirectory + "envagent.lock", body)
    }
}
