import CLibgit2
import CSodium

/// EnvAgent's version: the one place it is written. `agent --version` prints it, and
/// `scripts/package.sh` names the Debian package by what the built binary prints.
public enum EnvAgentVersion {
    /// The package version (Debian's rules: digits and dots, no leading letter).
    public static let number = "0.1.0"

    /// The version of the libgit2 this process runs with (not the headers it was built against).
    public static var libgit2: String {
        var major: Int32 = 0, minor: Int32 = 0, revision: Int32 = 0
        guard git_libgit2_version(&major, &minor, &revision) == 0 else { return "unknown" }
        return "\(major).\(minor).\(revision)"
    }

    /// The version of the libsodium this process runs with.
    public static var libsodium: String { String(cString: sodium_version_string()) }

    /// What `--version` prints: the package version on the first line, then the libraries.
    public static var description: String {
        "agent \(number)\nlibgit2 \(libgit2)\nlibsodium \(libsodium)"
    }
}
