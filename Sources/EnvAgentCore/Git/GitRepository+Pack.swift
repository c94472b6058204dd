import CLibgit2
#if canImport(Glibc)
import Glibc
#endif

/// libgit2 has no `git gc`: without packing, every update of a large secrets file leaves a
/// full compressed copy behind as a loose object. The agent packs after its own commits: when
/// about `looseFoldersPerPack` fan-out folders (`objects/xx`) hold loose objects, they go into a
/// small pack (deltas within it) and the emptied folders are removed. Packs are then kept in a
/// geometric progression (as `git repack --geometric=2` does): sorted by object count, every
/// pack must hold at least twice the objects of all smaller packs together, else it and the
/// smaller ones are rolled up into one. So a repository keeps O(log n) packs, each object is
/// repacked O(log n) times over its life, and no write pays for the whole history (libgit2's
/// packbuilder recomputes every delta of what it packs). Counting folders is one `readdir` of
/// `objects/`, so the check costs nothing measurable on the write path.
extension GitRepository {
    static let looseFoldersPerPack = 24
    static let geometricFactor = 2

    /// The shared objects folder (a linked worktree's own git folder has none).
    var objectsDirectory: String { commonDirectory + "objects" }

    /// Packs the loose objects once they have piled up, then restores the geometric progression
    /// of packs; returns whether it wrote a pack. Called after each agent commit under the store's
    /// write lock. A long-running writer packs from a second repository handle while commits go
    /// on: then only the deletions run inside `removeUnder` (the write lock). Every deletion
    /// comes after the new pack holding those objects is complete, so no interleaving with
    /// writers or another packer loses an object.
    /// `threads` is how many threads search for deltas (0: one per core); a packer running
    /// beside writers takes one, leaving the other cores to them.
    @discardableResult
    func packLooseObjectsIfNeeded(force: Bool = false, threads: UInt32 = 0,
                                  removeUnder lock: (() -> Void) throws -> Void = { $0() }) throws -> Bool {
        guard force || packingDue else { return false }
        let loose = looseObjects()
        if !loose.isEmpty {
            try writePack(loose.map(\.id), threads: threads)
            try lock { removeLooseCopies(loose) }
        }
        let rolledUp = try consolidatePacks(threads: threads, removeUnder: lock)
        return !loose.isEmpty || rolledUp
    }

    /// Whether enough loose objects have piled up to pack them (one `readdir` of `objects/`), or
    /// packs have: every fetch that brings objects adds a pack, and a clone that only pulls
    /// (a server under `agent watch --pull-only`) writes no loose objects at all.
    var packingDue: Bool {
        if looseFolderCount() >= Self.looseFoldersPerPack { return true }
        let packs = packFiles()
        guard packs.count >= Self.packsBeforeCheckingProgression else { return false }
        let counts = packs.compactMap { PackIndex(path: $0 + ".idx")?.count }.sorted()
        return Self.packsToRollUp(counts, factor: Self.geometricFactor) >= 2
    }

    /// Below this many packs the progression is not checked after a commit or fetch (a
    /// geometric set of packs this small is cheap to search anyway).
    static let packsBeforeCheckingProgression = 8

    /// Rolls the packs that break the geometric progression up into one; returns whether it did.
    @discardableResult
    func consolidatePacks(threads: UInt32 = 0, removeUnder lock: (() -> Void) throws -> Void = { $0() }) throws -> Bool {
        let packs = packFiles().compactMap { path in PackIndex(path: path + ".idx").map { (path: path, index: $0) } }
            .filter { !FileIO.exists($0.path + ".keep") }
            .sorted { $0.index.count < $1.index.count }
        let rollUp = Self.packsToRollUp(packs.map(\.index.count), factor: Self.geometricFactor)
        guard rollUp >= 2 else { return false }
        var ids = Set<ObjectID>()
        for pack in packs.prefix(rollUp) {
            guard let all = pack.index.objectIDs() else { return false } // unreadable index: leave the packs alone
            ids.formUnion(all)
        }
        let newPack = try writePack(Array(ids), threads: threads)
        try lock {
            for pack in packs.prefix(rollUp) where !pack.path.hasSuffix(newPack) {
                for ext in [".pack", ".idx", ".rev"] { unlink(pack.path + ext) }
            }
        }
        return true
    }

    /// Given pack object counts in ascending order, how many of the smallest must be rolled up
    /// so that each remaining pack holds at least `factor` times all smaller packs together.
    static func packsToRollUp(_ counts: [Int], factor: Int) -> Int {
        var rollUp = 0
        var smaller = 0
        for (position, count) in counts.enumerated() {
            if position > 0 && count < factor * smaller { rollUp = position + 1 }
            smaller += count
        }
        return rollUp
    }

    /// Fan-out folders (`objects/00` … `objects/ff`) that exist.
    private func fanOutFolders() -> [String] {
        FileIO.directoryEntries(objectsDirectory).filter { name in
            name.utf8.count == 2 && name.utf8.allSatisfy(\.isHexDigit)
        }
    }

    private func looseFolderCount() -> Int { fanOutFolders().count }

    /// Deletes packed loose objects and the fan-out folders they leave empty (as `git gc` does:
    /// 256 empty folders are 1 MiB on ext4).
    private func removeLooseCopies(_ loose: [(id: ObjectID, path: String)]) {
        var folders = Set<String>()
        for object in loose {
            unlink(object.path)
            folders.insert(FileIO.dirname(object.path))
        }
        for folder in folders { rmdir(folder) } // fails harmlessly when not empty
    }

    /// Returns the new pack's base name (`pack-<hash>`).
    @discardableResult
    private func writePack(_ ids: [ObjectID], threads: UInt32) throws -> String {
        var builder: OpaquePointer?
        try Libgit2.check(git_packbuilder_new(&builder, pointer), "git_packbuilder_new")
        defer { git_packbuilder_free(builder) }
        git_packbuilder_set_threads(builder, threads)
        for id in ids {
            var oid = id.raw
            try Libgit2.check(git_packbuilder_insert(builder, &oid, nil), "git_packbuilder_insert")
        }
        try Libgit2.check(git_packbuilder_write(builder, objectsDirectory + "/pack", 0, nil, nil), "git_packbuilder_write")
        return "pack-" + (git_packbuilder_name(builder).map { String(cString: $0) } ?? "")
    }

    private func looseObjects() -> [(id: ObjectID, path: String)] {
        fanOutFolders().flatMap { prefix in
            let folder = "\(objectsDirectory)/\(prefix)"
            return FileIO.directoryEntries(folder).compactMap { name -> (id: ObjectID, path: String)? in
                guard name.utf8.count == 38, let id = ObjectID(hex: prefix + name) else { return nil }
                return (id, "\(folder)/\(name)")
            }
        }
    }

    /// Paths of existing packs without extension (`…/objects/pack/pack-<hash>`).
    private func packFiles() -> [String] {
        let folder = objectsDirectory + "/pack"
        return FileIO.directoryEntries(folder)
            .filter { $0.hasPrefix("pack-") && $0.hasSuffix(".idx") }
            .map { "\(folder)/\($0.dropLast(4))" }
    }
}

/// The object names of a pack, read from its version-2 `.idx` (magic, version, 256 fan-out
/// counts, then the sorted 20-byte ids).
struct PackIndex {
    let path: String
    let count: Int

    init?(path: String) {
        guard let header = try? FileIO.read(path, upTo: 8 + 256 * 4), header.count == 8 + 256 * 4,
              header.prefix(8) == [0xff, 0x74, 0x4f, 0x63, 0, 0, 0, 2] else { return nil }
        self.path = path
        count = Int(header[8 + 255 * 4 ..< 8 + 256 * 4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
    }

    func objectIDs() -> [ObjectID]? {
        let start = 8 + 256 * 4
        guard let bytes = try? FileIO.read(path, upTo: start + count * 20), bytes.count == start + count * 20 else { return nil }
        return (0..<count).map { index in
            var oid = git_oid()
            withUnsafeMutableBytes(of: &oid.id) { raw in
                raw.copyBytes(from: bytes[start + index * 20 ..< start + index * 20 + 20])
            }
            return ObjectID(oid)
        }
    }
}
