import Testing
@testable import EnvAgentCore

/// The two readings of a remote URL that need no network: the password hidden before a URL is
/// shown (`redacted`), and the folder of a local remote (`localPath`).
@Suite struct RemoteURLTests {
    @Test(arguments: [
        ("https://alice:s3cret@git.example.com/team/store.git", "https://alice:***@git.example.com/team/store.git"),
        ("https://alice:s3cret@git.example.com", "https://alice:***@git.example.com"),
        ("https://alice:s3cret@git.example.com/a/b/c.git", "https://alice:***@git.example.com/a/b/c.git"),
        // The last '@' ends the credentials: a password may contain '@' and ':'.
        ("https://alice:p@ss:w@git.example.com/store.git", "https://alice:***@git.example.com/store.git"),
        ("ssh://bob:hunter2@git.example.com:2222/store.git", "ssh://bob:***@git.example.com:2222/store.git"),
        // Nothing to hide: no password, no user, or not a URL with an authority.
        ("https://alice@git.example.com/store.git", "https://alice@git.example.com/store.git"),
        ("ssh://git@git.example.com:2222/store.git", "ssh://git@git.example.com:2222/store.git"),
        ("https://git.example.com/store.git", "https://git.example.com/store.git"),
        ("git@github.com:team/store.git", "git@github.com:team/store.git"),
        ("/srv/git/store.git", "/srv/git/store.git"),
        ("file:///srv/git/store.git", "file:///srv/git/store.git"),
        ("", ""),
    ])
    func redactedHidesOnlyThePassword(_ url: String, _ shown: String) {
        #expect(GitRepository.redacted(url) == shown)
    }

    @Test(arguments: [
        ("file:///srv/git/store.git", "/srv/git/store.git"),
        ("/srv/git/store.git", "/srv/git/store.git"),
        ("../store.git", "../store.git"),
        ("store.git", "store.git"),
        // A ':' after a '/' is part of a path, not scp-like host:path.
        ("./backups/2026:01/store.git", "./backups/2026:01/store.git"),
    ] as [(String, String)])
    func localPathOfALocalRemote(_ url: String, _ path: String) {
        #expect(GitRepository.localPath(of: url) == path)
    }

    @Test(arguments: [
        "https://git.example.com/store.git",
        "ssh://git@git.example.com:2222/store.git",
        "git://git.example.com/store.git",
        "git@github.com:team/store.git",
        "git.example.com:store.git",
    ])
    func localPathOfANetworkRemoteIsNil(_ url: String) {
        #expect(GitRepository.localPath(of: url) == nil)
    }
}
