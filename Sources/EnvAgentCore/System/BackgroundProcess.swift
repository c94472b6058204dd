import CAgentShims
#if canImport(Glibc)
import Glibc
#endif

/// A process started to outlive its parent (the CLI's background packer), detached from the
/// caller's session, streams and descriptors.
public enum BackgroundProcess {
    /// Starts `executable` with `arguments` and this process's environment minus the variables
    /// named in `withholding` (a packer needs no identity); returns its pid, or nil when it could
    /// not be started (the work is then simply not done in the background).
    @discardableResult
    public static func start(_ executable: String, _ arguments: [String],
                             withholding withheld: Set<String> = ["AGENT_IDENTITY", "AGENT_IDENTITY_FILE"]) -> pid_t? {
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var envp: [UnsafeMutablePointer<CChar>?] = []
        var entry = environ
        let prefixes = withheld.map { $0 + "=" }
        while let variable = entry.pointee {
            // Compared in place: the values (an identity key) are never copied into a String.
            if !prefixes.contains(where: { strncmp(variable, $0, $0.utf8.count) == 0 }) { envp.append(variable) }
            entry += 1
        }
        envp.append(nil)
        let pid = envagent_spawn_detached(executable, argv, envp)
        return pid > 0 ? pid : nil
    }
}
