import EnvAgentHooks

/// The hook scripts `agent hooks install` writes: the files of `hooks/`, embedded at build time
/// (the `EnvAgentHooks` target), so there is one copy. Each is a few lines of POSIX sh around
/// `agent hooks run NAME "$@"`; it first runs the hook it replaced (kept as
/// `NAME.envagent-chained`).
public enum HookScripts {
    /// The hooks EnvAgent installs, in the order they are listed.
    public static let names = ["pre-commit", "post-checkout", "post-merge", "post-rewrite"]
    /// Marks a file as EnvAgent's hook; the number after `v` is the script version. Version 1
    /// called `agent hook NAME` (still accepted); `install` updates older versions in place.
    public static let marker = "# envagent-hook v"
    public static let version = 2
    /// Suffix of the kept hook that an installed script runs first.
    public static let chainedSuffix = ".envagent-chained"

    /// The script installed as `name`; nil for a hook EnvAgent does not install.
    public static func script(_ name: String) -> [UInt8]? {
        ShippedHooks.script(named: name)
    }

    /// The script version 1 installed as `name`: this one but for the marker and the command it
    /// ran (`agent hook NAME`), so an unedited version-1 script is recognised byte for byte.
    static func versionOneScript(_ name: String) -> [UInt8]? {
        guard let current = script(name) else { return nil }
        let text = String(decoding: current, as: UTF8.self)
            .replacing("\(marker)\(version) \(name):", with: "\(marker)1 \(name):")
            .replacing("agent hooks run \(name) ", with: "agent hook \(name) ")
        return Array(text.utf8)
    }
}
