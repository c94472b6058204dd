#if canImport(Glibc)
import Glibc
#endif

/// Where a render target's output lands on this machine. The folders are resolved through every
/// symlink, so a committed `config -> /etc` or `config -> .git` shows up before anything is
/// written; the last component is kept as written, because the atomic rename replaces a symlink
/// there instead of following it.
struct TargetLocation: Equatable {
    /// The output's real folder and its last component: the path that is written.
    var path: String
    /// Whether that folder exists; when it does not, only its existing leading part is resolved.
    var folderExists: Bool
    /// Where the last component leads when it is a symlink, resolved the same way; nil otherwise.
    var linkDestination: String?

    /// `output` as configured; a relative one starts at `base` (the top of the work tree).
    init(output: String, base: String) {
        let full = output.hasPrefix("/") ? output : Self.joined(base, output)
        let (folder, exists) = Self.resolvingExistingPart(of: FileIO.dirname(full))
        path = Self.joined(folder, FileIO.basename(full))
        folderExists = exists
        linkDestination = exists ? Self.symlinkDestination(path) : nil
    }

    /// Whether `path` is `folder` or inside it (both absolute, without a trailing slash).
    static func isWithin(_ path: String, _ folder: String) -> Bool {
        folder == "/" || path == folder || path.hasPrefix(folder + "/")
    }

    /// The canonical path (every symlink, `.` and `..` resolved) of something that exists.
    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// `path` with its longest existing leading part resolved and the rest appended as written
    /// (nothing there can be a symlink yet); true when all of it exists.
    private static func resolvingExistingPart(of path: String) -> (String, Bool) {
        var head = path
        var missing: [String] = []
        while true {
            if let real = realPath(head) {
                return (missing.reversed().reduce(real, joined), missing.isEmpty && FileIO.isDirectory(real))
            }
            let parent = FileIO.dirname(head)
            guard parent != head else { return (path, false) }
            missing.append(FileIO.basename(head))
            head = parent
        }
    }

    /// Where the symlink at `path` leads, or nil when `path` is not a symlink. A dangling link is
    /// resolved through its folder, which is where a write through it would land.
    private static func symlinkDestination(_ path: String) -> String? {
        var status = stat()
        guard lstat(path, &status) == 0, status.st_mode & S_IFMT == S_IFLNK else { return nil }
        if let real = realPath(path) { return real }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink(path, &buffer, buffer.count - 1)
        guard count > 0 else { return nil }
        let target = String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let full = target.hasPrefix("/") ? target : joined(FileIO.dirname(path), target)
        return joined(resolvingExistingPart(of: FileIO.dirname(full)).0, FileIO.basename(full))
    }

    private static func joined(_ folder: String, _ name: String) -> String {
        folder.hasSuffix("/") ? folder + name : folder + "/" + name
    }
}

/// The places a repository's targets are judged against, resolved once per render.
struct TargetSurroundings {
    /// The work tree's real path; nil for a bare repository, where nothing counts as inside.
    var workTree: String?
    /// Where relative outputs start: the work tree, else the current directory.
    var base: String
    /// Folders no output may resolve into, with how to name them.
    var protected: [(folder: String, name: String)]

    init(repository: GitRepository) {
        let workdir = repository.workdir
        workTree = workdir.map(Self.resolvedFolder)
        base = workTree ?? FileIO.currentDirectory()
        var protected: [(String, String)] = []
        for folder in [repository.gitDirectory, repository.commonDirectory] {
            protected.append((Self.resolvedFolder(folder), "the repository's git folder"))
        }
        if let workTree {
            protected.append((Self.resolvedFolder(workTree + "/" + StoreFormat.folder), "the store folder \(StoreFormat.folder)/"))
        }
        // core.hooksPath may point outside .git; a rendered file must not replace a hook there either.
        if let hooks = try? HookInstaller(repository: repository).folder {
            protected.append((Self.resolvedFolder(hooks), "the git hooks folder"))
        }
        self.protected = protected
    }

    /// A folder's real path; as written, without a trailing slash, when it does not exist.
    private static func resolvedFolder(_ folder: String) -> String {
        if let real = TargetLocation.realPath(folder) { return real }
        return folder.count > 1 && folder.hasSuffix("/") ? String(folder.dropLast()) : folder
    }

    func location(of output: String) -> TargetLocation {
        TargetLocation(output: output, base: base)
    }

    func isInsideWorkTree(_ location: TargetLocation) -> Bool {
        guard let workTree else { return false }
        return TargetLocation.isWithin(location.path, workTree)
    }

    /// Why an output at `location` is never written (it would land in git's or the store's own
    /// files), nil when it may be.
    func refusal(of location: TargetLocation, output: String) -> String? {
        for place in [location.path] + (location.linkDestination.map { [$0] } ?? []) {
            if let hit = protected.first(where: { TargetLocation.isWithin(place, $0.folder) }) {
                let how = place == location.path ? "resolves to \(place)" : "is a symlink to \(place)"
                return "output \(output) \(how), inside \(hit.name) (\(hit.folder)): never written there"
            }
        }
        return nil
    }
}
