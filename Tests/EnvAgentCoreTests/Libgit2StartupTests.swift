import Testing
@testable import EnvAgentCore

@Suite struct Libgit2StartupTests {
    /// libgit2's start-up parse of the CA bundle is deferred, and the bundle still loads on
    /// demand through the real mbedTLS parser (what HTTPS remotes call first).
    @Test func certificateAuthoritiesAreDeferredAndLoadable() throws {
        let dir = TempDirectory()
        _ = try GitRepository.initialize(dir.file("repo"), bare: true)
        let bundle = "/etc/ssl/certs/ca-certificates.crt"
        // Debian's libgit2 reads this bundle at init; scripts/setup.sh installs ca-certificates.
        try #require(FileIO.exists(bundle))
        #expect(Libgit2.certificateAuthoritiesDeferred)
        try Libgit2.loadCertificateAuthorities()
        #expect(!Libgit2.certificateAuthoritiesDeferred)
        try Libgit2.loadCertificateAuthorities() // idempotent
    }
}
