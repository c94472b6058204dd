import Foundation
import Testing

/// A write-only contributor (anyone who can push, not a member) syncing after members changed
/// the recipients upstream: never stranded.
@Suite struct WriteOnlySyncTests {
    /// Alice's store on a bare remote, and Carol's clone (Carol is not a recipient).
    func teamWithContributor() throws -> (team: SyncTests.Team, carol: String) {
        let team = try SyncTests.Team()
        _ = try team.keygen("carol")
        let carol = try team.clone("carol")
        let written = try team.agent(as: "carol", carol, "set", "NEW", stdin: "carols-new-value")
        #expect(written.status == 0, "\(written.stderr)")
        return (team, carol)
    }

    @Test func contributorSyncsAfterARecipientWasAddedUpstream() throws {
        let (team, carol) = try teamWithContributor()
        #expect(try team.agent(as: "carol", carol, "update", "A", stdin: "carols-a-value").status == 0)
        let bobKey = try team.keygen("bob")
        #expect(try team.agent(team.box.repo, "recipients", "add", bobKey, "--name", "bob").status == 0)
        #expect(try team.agent(team.box.repo, "sync").status == 0)

        let synced = try team.agent(as: "carol", carol, "sync")
        #expect(synced.status == 0 && synced.stdout.hasPrefix("merged"), "\(synced.stderr)")
        #expect(try team.agent(team.box.repo, "sync").status == 0)
        let rendered = try team.render(team.box.repo)
        #expect(rendered.hasPrefix("A='carols-a-value'\n") && rendered.contains("NEW='carols-new-value'\n"), "\(rendered)")
        #expect(try team.agent(as: "bob", team.box.repo, "render", "NEW").stdout == "NEW='carols-new-value'\n")
        #expect(try team.agent(team.box.repo, "verify").status == 0)
        try team.fsck(team.remote)
    }

    @Test func gitPullThroughTheMergeDriverAfterARecipientWasAddedUpstream() throws {
        let (team, carol) = try teamWithContributor()
        let bobKey = try team.keygen("bob")
        #expect(try team.agent(team.box.repo, "recipients", "add", bobKey, "--name", "bob").status == 0)
        // A change to the secrets upstream too, so git hands both files to the driver.
        #expect(try team.agent(team.box.repo, "update", "B", stdin: "alices-b-value").status == 0)
        #expect(try team.agent(team.box.repo, "sync").status == 0)

        let pulled = try team.box.exec("/usr/bin/git", ["pull", "-q", "--no-rebase", "--no-edit", "origin", "main"], stdin: nil,
                                       env: team.home("carol"), cwd: carol)
        #expect(pulled.status == 0, "\(pulled.stderr)")
        #expect(try team.git(carol, "push", "-q", "origin", "HEAD:main").status == 0)
        #expect(try team.agent(team.box.repo, "sync").status == 0)
        let rendered = try team.render(team.box.repo)
        #expect(rendered.contains("B='alices-b-value'\n") && rendered.contains("NEW='carols-new-value'\n"), "\(rendered)")
    }

    @Test func contributorAfterARotationUpstreamResolvesAndWritesAgain() throws {
        let (team, carol) = try teamWithContributor()
        #expect(try team.agent(team.box.repo, "rotate").status == 0)
        #expect(try team.agent(team.box.repo, "sync").status == 0)
        let remoteBefore = try team.remoteHead()

        // Sealed to the replaced key: a conflict to resolve, nothing pushed.
        let stopped = try team.agent(as: "carol", carol, "sync", "--json")
        #expect(stopped.status == 12, "\(stopped.stderr)")
        let locs = (stopped.envelope?["errors"] as? [[String: Any]])?.compactMap { $0["loc"] as? [String] }
        #expect(locs == [["dev", "NEW"]])
        #expect(stopped.stderr.contains("a rotation on the other side replaced") && !stopped.stderr.contains("carols-new-value"),
                "\(stopped.stderr)")
        #expect(try team.remoteHead() == remoteBefore)
        let again = try team.agent(as: "carol", carol, "sync")
        #expect(again.status == 12 && again.stderr.contains("--theirs"), "\(again.stderr)")

        // Keeping this side cannot work without the key, and says what does; nothing is lost.
        let kept = try team.agent(as: "carol", carol, "resolve", "NEW", "--ours")
        #expect(kept.status == 12 && kept.stderr.contains("--theirs"), "\(kept.stderr)")
        let dropped = try team.agent(as: "carol", carol, "resolve", "NEW", "--theirs")
        #expect(dropped.status == 0 && dropped.stdout.contains("merged at"), "\(dropped.stderr)")
        #expect(try team.agent(as: "carol", carol, "set", "NEW", stdin: "carols-new-value").status == 0)
        let pushed = try team.agent(as: "carol", carol, "sync")
        #expect(pushed.status == 0, "\(pushed.stderr)")

        #expect(try team.agent(team.box.repo, "sync").status == 0)
        #expect(try team.render(team.box.repo).contains("NEW='carols-new-value'\n"))
        #expect(try team.agent(team.box.repo, "verify").status == 0)
    }
}
