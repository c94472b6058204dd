/// When a store packs its loose objects, and the one way it does (libgit2 has no gc; how a
/// pack is built is `GitRepository+Pack`). Whatever asks for a pack (a commit or fetch that
/// left packing due, `agent gc`, the API server's packer thread) goes through `Store.pack`,
/// which holds the repository's pack lock, so two packers never race, and takes the write
/// lock only to delete what a finished pack replaces, so commits go on while it packs.
public enum PackingPolicy: Sendable {
    /// Pack in this process, after the commit or fetch that left packing due: long-running
    /// processes (`agent watch`, between cycles nobody waits) and the library's default.
    case inline
    /// Once packing is due, call `start` with the git folder (at most once per `Store`): the CLI
    /// starts `agent gc --auto` in the background, as git does with `gc --auto`, so no command
    /// waits for a pack.
    case background(start: @Sendable (_ gitDirectory: String) -> Void)
    /// Never after a commit or fetch: the owner calls `pack` on its own schedule (the API
    /// server's packer thread, on a second handle).
    case manual
}

extension Store {
    /// What `pack` does.
    public enum PackRequest: Sendable {
        /// Only when packing is due; returns at once when another packer holds the lock. Deltas
        /// are searched on one thread, leaving the other cores to writers (on 2 cores the API
        /// served 15–40 % more updates with half the p99 latency).
        case whenDue
        /// Every loose object and every pack now (`agent gc`), after waiting for another packer;
        /// deltas on every core.
        case full
    }

    /// The one entry point that packs: under the pack lock, beside any writers. Returns whether
    /// it wrote a pack.
    @discardableResult
    public func pack(_ request: PackRequest) throws -> Bool {
        let full = if case .full = request { true } else { false }
        let lock = repository.commonDirectory + "envagent-pack.lock"
        return try FileIO.withExclusiveLock(lock, wait: full) {
            try repository.packLooseObjectsIfNeeded(force: full, threads: full ? 0 : 1,
                                                    removeUnder: { body in try withWriteLock(body) })
        } ?? false
    }

    /// After a commit or fetch wrote objects, outside the write lock: what `packing` says.
    func objectsWritten() throws {
        switch packing {
        case .manual:
            return
        case .inline:
            // The readdir check first: most commits leave nothing to pack, and need no lock.
            if repository.packingDue { try pack(.whenDue) }
        case .background(let start):
            guard !backgroundPackStarted, repository.packingDue else { return }
            backgroundPackStarted = true
            start(repository.gitDirectory)
        }
    }
}
