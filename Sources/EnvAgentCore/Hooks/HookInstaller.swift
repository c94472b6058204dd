#if canImport(Glibc)
import Glibc
#endif

/// Installs, removes and inspects EnvAgent's git hooks in a repository's hooks folder
/// (`core.hooksPath` when set, else the common git folder's `hooks/`). A hook that was there
/// before is never overwritten: it is renamed to `NAME.envagent-chained`, which the installed
/// script runs first, and `uninstall` renames it back (byte for byte, mode included).
public struct HookInstaller {
    public enum State: String, Codable, Sendable {
        /// No hook of that name.
        case missing
        /// This version's script, byte for byte.
        case installed
        /// EnvAgent's script of an older version, as it was shipped (install updates it).
        case outdated
        /// EnvAgent's marker, but edited by hand (install needs --force).
        case modified
        /// Somebody else's hook (install chains it).
        case foreign
    }

    public struct HookStatus: Codable, Sendable, Equatable {
        public var name: String
        public var path: String
        public var state: State
        /// The kept hook the script runs first, when there is one.
        public var chained: String?
    }

    public enum Action: String, Codable, Sendable {
        case installed, updated, replaced, chained, unchanged, removed, restored, kept, absent
    }

    public struct HookChange: Codable, Sendable, Equatable {
        public var name: String
        public var path: String
        public var action: Action
    }

    /// The hooks folder, without a trailing slash.
    public let folder: String
    /// Whether `folder` comes from `core.hooksPath`.
    public let fromHooksPath: Bool

    public init(repository: GitRepository) throws {
        if let configured = try repository.configPath("core.hooksPath"), !configured.isEmpty {
            // git resolves a relative hooksPath against the folder hooks run in: the top of the
            // working tree, or the repository itself when bare.
            let base = repository.workdir ?? repository.gitDirectory
            let path = configured.hasPrefix("/") ? configured : base + configured
            folder = path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
            fromHooksPath = true
        } else {
            folder = repository.commonDirectory + "hooks"
            fromHooksPath = false
        }
    }

    private func path(_ name: String) -> String { "\(folder)/\(name)" }

    public func status() -> [HookStatus] {
        HookScripts.names.map { name in
            let chained = path(name) + HookScripts.chainedSuffix
            return HookStatus(name: name, path: path(name), state: state(name),
                              chained: FileIO.exists(chained) ? chained : nil)
        }
    }

    func state(_ name: String) -> State {
        var st = stat()
        guard lstat(path(name), &st) == 0 else { return .missing }
        guard st.st_mode & S_IFMT == S_IFREG, let bytes = try? FileIO.read(path(name)) else { return .foreign }
        let expected = HookScripts.script(name)!
        if bytes == expected { return st.st_mode & 0o111 == 0o111 ? .installed : .modified }
        // The marker sits on the second line of every version of the scripts.
        let lines = String(decoding: bytes.prefix(4096), as: UTF8.self).split(separator: "\n").prefix(3)
        guard let line = lines.first(where: { $0.hasPrefix(HookScripts.marker) }) else { return .foreign }
        let version = Int(line.dropFirst(HookScripts.marker.count).prefix(while: \.isNumber)) ?? 0
        // An older script is updated only as it was shipped: hand edits are never overwritten
        // without --force.
        return version == 1 && bytes == HookScripts.versionOneScript(name) ? .outdated : .modified
    }

    /// Installs all four hooks, or none: conflicts are found before anything is written.
    public func install(force: Bool) throws -> [HookChange] {
        try FileIO.makeDirectories(folder, mode: 0o755)
        var plan: [(name: String, action: Action)] = []
        var conflicts: [String] = []
        for name in HookScripts.names {
            let chained = path(name) + HookScripts.chainedSuffix
            switch state(name) {
            case .missing: plan.append((name, .installed))
            case .installed: plan.append((name, .unchanged))
            case .outdated: plan.append((name, .updated))
            case .modified:
                if force { plan.append((name, .replaced)) } else {
                    conflicts.append("\(path(name)) is an EnvAgent hook edited by hand (--force replaces it)")
                }
            case .foreign:
                if FileIO.exists(chained) || isSymlink(chained) {
                    conflicts.append("\(path(name)) is not EnvAgent's, and \(FileIO.basename(chained)) (a hook kept by an earlier install) is in the way: merge or remove one of them by hand")
                } else {
                    plan.append((name, .chained))
                }
            }
        }
        guard conflicts.isEmpty else {
            throw AgentError(.alreadyExists, "cannot install the git hooks: \(conflicts.joined(separator: "; "))",
                             details: conflicts.map { .init(loc: ["hooks"], msg: $0, type: "hook_conflict") },
                             hint: "nothing was changed; `agent hooks status` shows each hook")
        }
        for (name, action) in plan where action != .unchanged {
            if action == .chained {
                guard rename(path(name), path(name) + HookScripts.chainedSuffix) == 0 else {
                    throw AgentError.internal("cannot keep \(path(name)) as \(HookScripts.chainedSuffix): \(FileIO.errnoMessage())")
                }
            }
            try FileIO.writeAtomically(path(name), bytes: HookScripts.script(name)!, mode: 0o755, sync: false)
        }
        return plan.map { HookChange(name: $0.name, path: path($0.name), action: $0.action) }
    }

    /// Removes EnvAgent's hooks and puts back what they replaced. Foreign hooks are kept.
    public func uninstall() throws -> [HookChange] {
        try HookScripts.names.map { name in
            let chained = path(name) + HookScripts.chainedSuffix
            switch state(name) {
            case .missing:
                return HookChange(name: name, path: path(name), action: .absent)
            case .foreign:
                return HookChange(name: name, path: path(name), action: .kept)
            case .installed, .outdated, .modified:
                if FileIO.exists(chained) || isSymlink(chained) {
                    guard rename(chained, path(name)) == 0 else {
                        throw AgentError.internal("cannot restore \(chained): \(FileIO.errnoMessage())")
                    }
                    return HookChange(name: name, path: path(name), action: .restored)
                }
                guard unlink(path(name)) == 0 else { throw AgentError.internal("cannot remove \(path(name)): \(FileIO.errnoMessage())") }
                return HookChange(name: name, path: path(name), action: .removed)
            }
        }
    }

    private func isSymlink(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0 && st.st_mode & S_IFMT == S_IFLNK
    }
}
