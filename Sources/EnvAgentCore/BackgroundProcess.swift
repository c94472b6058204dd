import CAgentShims
#if canImport(Glibc)
import Glibc
#endif

/// A process started to outlive its parent (the CLI's background packer), detached from the
/// caller's session, streams and descriptors.
public enum BackgroundProcess {
    /// Starts `executable` with `arguments` and this process's environment; returns its pid, or
    /// nil when it could not be started (the work is then simply not done in the background).
    @discardableResult
    public static func start(_ executable: String, _ arguments: [String]) -> pid_t? {
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let pid = envagent_spawn_detached(executable, argv, environ)
        return pid > 0 ? pid : nil
    }
}
