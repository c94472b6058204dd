#if canImport(Glibc)
import Glibc
#endif

/// What a working tree's render targets were last rendered from, kept in its git folder
/// (`envagent-rendered`, one line): the id of the store's tree at HEAD, a fingerprint of the
/// targets file, and the commit HEAD was at. The post-checkout/merge/rewrite hooks re-render
/// only when the store tree or the targets file differ from it.
struct RenderState: Equatable {
    static let fileName = "envagent-rendered"

    var storeTree: String
    var targetsFingerprint: String
    /// HEAD's commit when this was recorded; nil in files written before it was kept.
    var commit: String?

    init(storeTree: String, targetsFingerprint: String, commit: String?) {
        self.storeTree = storeTree
        self.targetsFingerprint = targetsFingerprint
        self.commit = commit
    }

    init?(parsing bytes: [UInt8]) {
        let fields = String(decoding: bytes, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard fields.count == 2 || fields.count == 3 else { return nil }
        self.init(storeTree: String(fields[0]), targetsFingerprint: String(fields[1]),
                  commit: fields.count == 3 ? String(fields[2]) : nil)
    }

    var text: String { "\(storeTree) \(targetsFingerprint)" + (commit.map { " \($0)" } ?? "") + "\n" }

    /// Same store and same targets file: nothing to render (the commit may differ).
    func rendersSame(as other: RenderState) -> Bool {
        storeTree == other.storeTree && targetsFingerprint == other.targetsFingerprint
    }

    /// FNV-1a: a change detector for a small config file, not a security boundary.
    static func fingerprint(_ targets: [UInt8]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in targets { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return String(hash, radix: 16)
    }

    /// Whether a post-checkout to `commit` in the working tree at `workingTree` (git runs hooks
    /// at its top) is certainly a no-op, decided from two small files without opening the
    /// repository (so without loading libgit2, whose start-up costs more than the whole check):
    /// the recorded state names this very commit, so the store tree is the recorded one, and the
    /// targets file is unchanged. Any doubt — no state, another commit, `GIT_DIR` set, an
    /// unusual `.git` — answers false, and the caller runs the full check.
    static func isCurrent(commit: String, workingTree: String) -> Bool {
        guard commit.utf8.count == 40, commit.utf8.allSatisfy(\.isHexDigit),
              FileIO.environment("GIT_DIR") == nil,
              let gitDirectory = gitDirectory(of: workingTree),
              let stateBytes = try? FileIO.read(gitDirectory + fileName),
              let state = RenderState(parsing: stateBytes), state.commit == commit,
              let targets = try? FileIO.read(workingTree + "/" + RenderTargets.path) else { return false }
        return fingerprint(targets) == state.targetsFingerprint
    }

    /// `.git` as a folder, or a `gitdir: PATH` file (linked worktrees, submodules); with a
    /// trailing slash, the way libgit2 reports it.
    private static func gitDirectory(of workingTree: String) -> String? {
        let dotGit = workingTree + "/.git"
        var status = stat()
        guard stat(dotGit, &status) == 0 else { return nil }
        if status.st_mode & S_IFMT == S_IFDIR { return dotGit + "/" }
        guard status.st_mode & S_IFMT == S_IFREG, status.st_size < 4096, let bytes = try? FileIO.read(dotGit) else { return nil }
        let line = String(decoding: bytes, as: UTF8.self).split(separator: "\n").first.map(String.init) ?? ""
        guard line.hasPrefix("gitdir: ") else { return nil }
        let path = String(line.dropFirst("gitdir: ".count))
        guard !path.isEmpty else { return nil }
        return (path.hasPrefix("/") ? path : workingTree + "/" + path) + (path.hasSuffix("/") ? "" : "/")
    }
}
