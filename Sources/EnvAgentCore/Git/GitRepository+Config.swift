import CLibgit2

/// Repository configuration and paths that git hooks depend on.
extension GitRepository {
    /// A path-valued config entry (`~/` expanded as git does), nil when it is not set.
    public func configPath(_ name: String) throws -> String? {
        var config: OpaquePointer?
        try Libgit2.check(git_repository_config_snapshot(&config, pointer), "git_repository_config_snapshot")
        defer { git_config_free(config) }
        var buffer = git_buf()
        let rc = git_config_get_path(&buffer, config, name)
        if rc == Libgit2.notFound { return nil }
        try Libgit2.check(rc, "git_config_get_path")
        defer { git_buf_dispose(&buffer) }
        return String(cString: buffer.ptr)
    }

    /// The folder shared by all worktrees of the repository (`.git/`), with a trailing slash.
    public var commonDirectory: String { String(cString: git_repository_commondir(pointer)) }

    /// Sets `key` in the repository's own config (`.git/config`).
    public func setConfig(_ key: String, _ value: String) throws {
        var config: OpaquePointer?
        try Libgit2.check(git_repository_config(&config, pointer), "git_repository_config")
        defer { git_config_free(config) }
        var local: OpaquePointer?
        try Libgit2.check(git_config_open_level(&local, config, GIT_CONFIG_LEVEL_LOCAL), "git_config_open_level")
        defer { git_config_free(local) }
        try Libgit2.check(git_config_set_string(local, key, value), "git_config_set_string")
    }
}
