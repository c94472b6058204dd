import CLibgit2
#if canImport(Glibc)
import Glibc
#endif

/// libgit2 has no `git gc`: without packing, every update of a large secrets file leaves a
/// full compressed copy behind as a loose object. The agent packs after its own commits: when
/// about `looseFoldersPerPack` fan-out folders (`objects/xx`) hold loose objects, they go into a
/// small pack (deltas within it) and the emptied folders are removed; when `packsPerRepack`
/// packs exist, everything is consolidated into one pack, where each version of a secrets file
/// is a small delta of another. Counting folders is one `readdir` of `objects/`, so the check
/// costs nothing measurable on the write path.
extension GitRepository {
    static let looseFoldersPerPack = 48
    static let packsPerRepack = 6

    private var objectsDirectory: String { gitDirectory + "objects" }

    /// Called after each agent commit (under the store's write lock). `consolidateAt`: how many
    /// packs trigger the consolidating repack (the HTTP server raises it while it is busy).
    func packLooseObjectsIfNeeded(consolidateAt: Int = packsPerRepack) throws {
        guard looseFolderCount() >= Self.looseFoldersPerPack else { return }
        if packFiles().count + 1 >= consolidateAt {
            try repackAll()
        } else {
            try packLooseObjects()
        }
    }

    /// Fan-out folders (`objects/00` … `objects/ff`) that exist.
    private func fanOutFolders() -> [String] {
        FileIO.directoryEntries(objectsDirectory).filter { name in
            name.utf8.count == 2 && name.utf8.allSatisfy(\.isHexDigit)
        }
    }

    private func looseFolderCount() -> Int { fanOutFolders().count }

    /// Moves every loose object into one new pack and deletes the loose copies.
    public func packLooseObjects() throws {
        let loose = looseObjects()
        guard !loose.isEmpty else { return }
        try writePack(loose.map(\.id))
        removeLooseCopies(loose)
    }

    /// Writes every object of the repository (loose and packed) into one pack, then deletes
    /// the old packs and loose copies. Nothing is lost: each deleted copy is in the new pack.
    public func repackAll() throws {
        let loose = looseObjects()
        let oldPacks = packFiles()
        var all = Set(loose.map(\.id))
        try forEachObject { all.insert($0) }
        let newPack = try writePack(Array(all))
        for pack in oldPacks where !pack.hasSuffix(newPack) {
            if FileIO.exists(pack + ".keep") { continue }
            for ext in [".pack", ".idx", ".rev"] { unlink(pack + ext) }
        }
        removeLooseCopies(loose)
    }

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
    private func writePack(_ ids: [ObjectID]) throws -> String {
        var builder: OpaquePointer?
        try Libgit2.check(git_packbuilder_new(&builder, pointer), "git_packbuilder_new")
        defer { git_packbuilder_free(builder) }
        git_packbuilder_set_threads(builder, 0)
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

    private func forEachObject(_ body: (ObjectID) -> Void) throws {
        var odb: OpaquePointer?
        try Libgit2.check(git_repository_odb(&odb, pointer), "git_repository_odb")
        defer { git_odb_free(odb) }
        try withoutActuallyEscaping(body) { body in
            var box = body
            _ = try withUnsafeMutablePointer(to: &box) { payload in
                try Libgit2.check(git_odb_foreach(odb, { oid, payload in
                    guard let oid, let payload else { return 0 }
                    payload.assumingMemoryBound(to: ((ObjectID) -> Void).self).pointee(ObjectID(oid.pointee))
                    return 0
                }, payload), "git_odb_foreach")
            }
        }
    }
}

private extension UInt8 {
    var isHexDigit: Bool { (self >= 0x30 && self <= 0x39) || (self >= 0x61 && self <= 0x66) }
}
