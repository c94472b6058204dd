import Foundation
import Testing

/// Someone who can push but is not a member (Mallory) attacks the recipients of an environment
/// through a bare remote with the git CLI; the members (Alice, and Bob in a third clone) are
/// stopped before anything is read, written or re-wrapped under the change, and told which
/// commit did what. Legitimate team work across clones never needs `agent trust`.
@Suite struct TrustCLITests {
    typealias Team = SyncTests.Team
    static let seeded = "A='value-a-000000'\nB='value-b-111111'\nC='value-c-222222'\nD='value-d-333333'\n"

    /// The envelope's type and the message, for an expected `untrusted_change` (exit 13).
    func expectUntrusted(_ result: Result, naming commit: String? = nil, _ comment: Comment? = nil,
                         sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(result.status == 13, "\(comment?.rawValue ?? ""): \(result.stderr)", sourceLocation: sourceLocation)
        if let commit {
            #expect(result.stderr.contains(String(commit.prefix(12))), "\(result.stderr)", sourceLocation: sourceLocation)
        }
    }

    /// A non-member appends a recipient line for their own key (any base64 in the wrapped
    /// field) and pushes: sync refuses to merge it; after a plain `git pull`, every read,
    /// write, rotation and removal stops; the attacker never gets the key.
    @Test func addedRecipientIsRefusedBeforeAnythingIsWrapped() throws {
        let team = try Team()
        let malloryKey = try team.keygen("mallory")
        let bobKey = try team.keygen("bob")
        #expect(try team.agent(as: nil, team.box.repo, "recipients", "add", bobKey, "--name", "bob").status == 0)
        #expect(try team.agent(as: nil, team.box.repo, "sync").status == 0)
        let mallory = try team.clone("mallory")
        let fakeWrapped = Data(repeating: 7, count: 80).base64EncodedString()
        let path = ".envagent/dev/recipients"
        let original = try team.read(mallory, path)
        // Appended after the signature, the file is malformed; before it, the signature fails.
        try team.write(mallory, path, original + "recipient \(malloryKey) \(fakeWrapped) mallory\n")
        #expect(try team.git(mallory, "commit", "-qam", "append a recipient").status == 0)
        expectUntrusted(try team.agent(as: nil, mallory, "list"), naming: try team.head(mallory), "appended line")
        #expect(try team.git(mallory, "reset", "-q", "--hard", "HEAD~1").status == 0)
        try team.write(mallory, path, original.replacingOccurrences(of: "\nsignature ", with: "\nrecipient \(malloryKey) \(fakeWrapped) mallory\nsignature "))
        try team.commitAndPush(mallory, "add a recipient")
        let attack = try team.head(mallory)

        let before = try team.head(team.box.repo)
        let sync = try team.agent(as: nil, team.box.repo, "sync", "--json")
        expectUntrusted(sync, naming: attack, "sync")
        #expect(sync.envelope?["type"] as? String == "untrusted_change")
        #expect(sync.stderr.contains("recipients added: mallory"))
        #expect(try team.head(team.box.repo) == before, "nothing was merged")

        // Pulled with git itself: the store stops before reading or re-wrapping anything.
        #expect(try team.git(team.box.repo, "pull", "-q", "--no-rebase", "origin", "main").status == 0)
        for args in [["render"], ["get", "A", "--reveal"], ["set", "NEW"], ["rotate"],
                     ["recipients", "remove", "bob"], ["recipients", "add", try team.keygen("carol")], ["verify"], ["list"]] {
            expectUntrusted(try team.box.agent(args, stdin: "new-value-0000"), naming: attack, "\(args)")
        }
        #expect(try team.head(team.box.repo) == attack, "no command wrote anything")
        // Bob, in his own clone, is told too.
        let bob = try team.clone("bob")
        // A fresh clone would trust what it first sees; Bob's clone accepted the store earlier.
        #expect(try team.git(bob, "checkout", "-q", before).status == 0)
        #expect(try team.agent(as: "bob", bob, "list").status == 0)
        #expect(try team.git(bob, "checkout", "-q", "main").status == 0)
        expectUntrusted(try team.agent(as: "bob", bob, "render"), naming: attack, "bob")
        // The attacker never gets a key: nothing was wrapped for her.
        #expect(try team.agent(as: "mallory", mallory, "render").status != 0)
        for clone in [team.box.repo, bob] {
            #expect(try team.git(clone, "log", "--format=%s").stdout.split(separator: "\n").first == "add a recipient")
        }

        // Reverting the commit brings everything back; values still open.
        #expect(try team.git(team.box.repo, "revert", "--no-edit", attack).status == 0)
        #expect(try team.agent(as: nil, team.box.repo, "render").stdout == Self.seeded)
        #expect(try team.agent(as: nil, team.box.repo, "verify").status == 0)
        // What members write afterwards stays out of the attacker's reach.
        #expect(try team.agent(as: nil, team.box.repo, "set", "AFTER", stdin: "written-after-the-attack").status == 0)
        #expect(try team.agent(as: nil, team.box.repo, "sync").status == 0)
        #expect(try team.git(mallory, "pull", "-q", "--no-rebase", "origin", "main").status == 0)
        let stolen = try team.agent(as: "mallory", mallory, "render", "AFTER")
        #expect(stolen.status == 4 && !stolen.stdout.contains("written-after-the-attack"), "\(stolen.stderr)")
    }

    /// A non-member deletes the environment and re-creates it under a key of their own, with
    /// the members added and themselves removed (a valid chain, from the wrong key): members'
    /// clones refuse it; their next write never goes to the attacker's key.
    @Test func replacedEnvironmentKeyIsRefused() throws {
        let team = try Team()
        let bobKey = try team.keygen("bob")
        #expect(try team.agent(as: nil, team.box.repo, "recipients", "add", bobKey, "--name", "bob").status == 0)
        #expect(try team.agent(as: nil, team.box.repo, "sync").status == 0)
        let bob = try team.clone("bob")
        #expect(try team.agent(as: "bob", bob, "list").status == 0) // Bob's clone accepts the store

        let mallory = try team.clone("mallory")
        _ = try team.keygen("mallory")
        #expect(try team.git(mallory, "rm", "-rq", ".envagent/dev").status == 0)
        #expect(try team.git(mallory, "commit", "-qm", "drop dev").status == 0)
        try? FileManager.default.removeItem(atPath: mallory + "/.git/envagent-trust") // her machine, her rules
        #expect(try team.agent(as: "mallory", mallory, "set", "A", stdin: "sk-attacker-0000000000").status == 0)
        #expect(try team.agent(as: "mallory", mallory, "recipients", "add", team.aliceKey, "--name", "alice").status == 0)
        #expect(try team.agent(as: "mallory", mallory, "recipients", "add", bobKey, "--name", "bob").status == 0)
        let malloryKey = try team.agent(as: "mallory", mallory, "whoami").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let removed = try team.agent(as: "mallory", mallory, "recipients", "remove", malloryKey)
        #expect(removed.status == 0, "\(removed.stderr)")
        #expect(try team.git(mallory, "push", "-q", "origin", "HEAD:main").status == 0)
        let attack = try team.head(mallory)

        expectUntrusted(try team.agent(as: nil, team.box.repo, "sync"), "alice's sync")
        #expect(try team.git(team.box.repo, "pull", "-q", "--no-rebase", "origin", "main").status == 0)
        let render = try team.agent(as: nil, team.box.repo, "render")
        expectUntrusted(render, naming: attack, "alice's render")
        #expect(!render.stdout.contains("sk-attacker"))
        expectUntrusted(try team.agent(as: nil, team.box.repo, "set", "NEW_TOKEN", stdin: "member-secret-0000"), "alice's write")
        #expect(try team.head(team.box.repo) == attack)
        #expect(try team.git(bob, "pull", "-q", "--no-rebase", "origin", "main").status == 0)
        expectUntrusted(try team.agent(as: "bob", bob, "render"), naming: attack, "bob's render")

        // `agent trust` shows the change and, without a terminal or --yes, accepts nothing.
        let shown = try team.agent(as: nil, team.box.repo, "trust", "--env", "dev")
        #expect(shown.status == 13)
        #expect(shown.stdout.contains("no key this clone accepted vouches for") && shown.stdout.contains(String(attack.prefix(12))))
        expectUntrusted(try team.agent(as: nil, team.box.repo, "render"), "still stopped")
        // Accepting it is the user's explicit choice (after checking with the team).
        let accepted = try team.agent(as: nil, team.box.repo, "trust", "--env", "dev", "--yes", "--json")
        #expect(accepted.status == 0 && accepted.stdout.contains("\"accepted\":true"), "\(accepted.stderr)")
        #expect(try team.agent(as: nil, team.box.repo, "render").stdout.contains("sk-attacker"))
    }

    /// A forged `public-key` line would make write-only contributors seal to the attacker: the
    /// signature no longer verifies, so a write-only writer is stopped before sealing.
    @Test func forgedPublicKeyStopsWriteOnlyWriters() throws {
        let team = try Team()
        let contributor = try team.clone("contributor")
        #expect(try team.agent(as: "contributor", contributor, "list").status == 0) // accepts the store (no identity)
        let mallory = try team.clone("mallory")
        let malloryKey = try team.keygen("mallory")
        let path = ".envagent/dev/recipients"
        let forged = try team.read(mallory, path).split(separator: "\n").map {
            $0.hasPrefix("public-key ") ? "public-key \(malloryKey)" : String($0)
        }.joined(separator: "\n") + "\n"
        try team.write(mallory, path, forged)
        try team.commitAndPush(mallory, "rotate the public key")
        let attack = try team.head(mallory)
        #expect(try team.git(contributor, "pull", "-q", "--no-rebase", "origin", "main").status == 0)
        let before = try team.read(contributor, ".envagent/dev/secrets")
        expectUntrusted(try team.agent(as: "contributor", contributor, "set", "NEW_TOKEN", stdin: "contributed-value-00"),
                        naming: attack, "write-only write")
        #expect(try team.read(contributor, ".envagent/dev/secrets") == before, "nothing was sealed")
        #expect(try team.head(contributor) == attack)
    }

    /// An emptied or deleted recipients file no longer passes verify, and a member's next write
    /// does not re-create the environment under a fresh key.
    @Test(arguments: ["empty", "delete"])
    func emptiedRecipientsFileStopsInsteadOfRecreating(_ how: String) throws {
        let team = try Team()
        let mallory = try team.clone("mallory")
        let path = ".envagent/dev/recipients"
        if how == "empty" { try team.write(mallory, path, "") } else { #expect(try team.git(mallory, "rm", "-q", path).status == 0) }
        try team.commitAndPush(mallory, "\(how) the recipients")
        let attack = try team.head(mallory)
        #expect(try team.git(team.box.repo, "pull", "-q", "--no-rebase", "origin", "main").status == 0)
        expectUntrusted(try team.agent(as: nil, team.box.repo, "verify"), naming: attack, "verify")
        expectUntrusted(try team.agent(as: nil, team.box.repo, "set", "NEW", stdin: "a-new-value-0000"), naming: attack, "set")
        #expect(try team.head(team.box.repo) == attack)
        // A fresh clone (no pin) refuses too: the environment has secrets but no recipients.
        let fresh = try team.clone("fresh")
        expectUntrusted(try team.agent(as: nil, fresh, "set", "NEW", stdin: "a-new-value-0000"), "fresh clone")
        #expect(try team.git(team.box.repo, "revert", "--no-edit", attack).status == 0)
        #expect(try team.agent(as: nil, team.box.repo, "render", "A").stdout == "A='value-a-000000'\n")
    }

    /// A replaced store header (a new store id) is not a new store to trust on first use.
    @Test func replacedStoreIDIsRefused() throws {
        let team = try Team()
        let mallory = try team.clone("mallory")
        let header = try team.read(mallory, ".envagent/store")
        try team.write(mallory, ".envagent/store", header.replacingOccurrences(of: "\nid ", with: "\nid x"))
        try team.commitAndPush(mallory, "new store id")
        #expect(try team.git(team.box.repo, "pull", "-q", "--no-rebase", "origin", "main").status == 0)
        let render = try team.agent(as: nil, team.box.repo, "render")
        #expect(render.status == 13 && render.stderr.contains("store header was replaced"), "\(render.stderr)")
    }

    /// Adding, removing, rotating and merging across three clones, with one clone several
    /// rotations behind, never asks for `agent trust`.
    @Test func legitimateTeamWorkNeverNeedsTrust() throws {
        let team = try Team()
        let bobKey = try team.keygen("bob"), carolKey = try team.keygen("carol"), daveKey = try team.keygen("dave")
        #expect(try team.agent(as: nil, team.box.repo, "recipients", "add", bobKey, "--name", "bob").status == 0)
        #expect(try team.agent(as: nil, team.box.repo, "recipients", "add", carolKey, "--name", "carol").status == 0)
        #expect(try team.agent(as: nil, team.box.repo, "sync").status == 0)
        let bob = try team.clone("bob"), carol = try team.clone("carol")
        let expected = Self.seeded
        for (name, clone) in [("bob", bob), ("carol", carol)] { #expect(try team.agent(as: name, clone, "render").stdout == expected) }

        // Carol goes quiet while Alice rotates twice and Bob adds and removes Dave.
        #expect(try team.agent(as: nil, team.box.repo, "rotate").status == 0)
        #expect(try team.agent(as: nil, team.box.repo, "sync").status == 0)
        #expect(try team.agent(as: "bob", bob, "sync").status == 0)
        #expect(try team.agent(as: "bob", bob, "recipients", "add", daveKey, "--name", "dave").status == 0)
        #expect(try team.agent(as: "bob", bob, "recipients", "remove", "dave").status == 0)
        #expect(try team.agent(as: "bob", bob, "sync").status == 0)
        #expect(try team.agent(as: nil, team.box.repo, "sync").status == 0)
        #expect(try team.agent(as: nil, team.box.repo, "rotate").status == 0)
        #expect(try team.agent(as: nil, team.box.repo, "sync").status == 0)

        // Concurrent recipient changes on both sides: a merge that makes a fresh key.
        #expect(try team.agent(as: "bob", bob, "sync").status == 0)
        #expect(try team.agent(as: "bob", bob, "rotate").status == 0)
        #expect(try team.agent(as: nil, team.box.repo, "recipients", "add", daveKey, "--name", "dave").status == 0)
        #expect(try team.agent(as: nil, team.box.repo, "sync").status == 0)
        let merged = try team.agent(as: "bob", bob, "sync", "--json")
        #expect(merged.status == 0 && merged.stdout.contains("\"merged\""), "\(merged.stderr) \(merged.stdout)")
        #expect(try team.agent(as: nil, team.box.repo, "sync").status == 0)

        // Carol catches up over every rotation and the merge at once.
        let caughtUp = try team.agent(as: "carol", carol, "sync")
        #expect(caughtUp.status == 0, "\(caughtUp.stderr)")
        for (name, clone) in [(nil, team.box.repo), ("bob", bob), ("carol", carol)] as [(String?, String)] {
            let render = try team.agent(as: name, clone, "render")
            #expect(render.status == 0 && render.stdout == expected, "\(name ?? "alice"): \(render.stderr)")
            #expect(try team.agent(as: name, clone, "verify").status == 0)
        }
        #expect(try team.agent(as: "dave", carol, "render").stdout == expected)
    }
}

/// What the trust tests need beyond sync's: other identities, each in its own config folder.
extension SyncTests.Team {
    var aliceKey: String { get throws { try agent(box.repo, "whoami").stdout.trimmingCharacters(in: .whitespacesAndNewlines) } }

    /// The environment of identity `name` (its own config folder).
    func home(_ name: String) -> [String: String] { ["XDG_CONFIG_HOME": box.root + "/home-" + name] }

    /// A new identity; its public key.
    func keygen(_ name: String) throws -> String {
        try box.agent(["keygen"], env: home(name)).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `agent ARGS` in `clone` as identity `name` (nil: Alice's, the sandbox's own).
    @discardableResult
    func agent(as name: String?, _ clone: String, _ args: String..., stdin: String? = nil) throws -> Result {
        try box.agent(args, stdin: stdin, env: name.map(home) ?? [:], cwd: clone)
    }

    @discardableResult
    func git(_ clone: String, _ args: String...) throws -> Result {
        try box.exec("/usr/bin/git", args, stdin: nil, env: [:], cwd: clone)
    }

    func read(_ clone: String, _ path: String) throws -> String {
        try String(contentsOfFile: clone + "/" + path, encoding: .utf8)
    }

    func write(_ clone: String, _ path: String, _ text: String) throws {
        try text.write(toFile: clone + "/" + path, atomically: true, encoding: .utf8)
    }

    /// Commits everything in `clone` with the git CLI and pushes it.
    func commitAndPush(_ clone: String, _ message: String) throws {
        #expect(try git(clone, "add", "-A").status == 0)
        #expect(try git(clone, "commit", "-qm", message).status == 0)
        let pushed = try git(clone, "push", "-q", "origin", "HEAD:main")
        #expect(pushed.status == 0, "\(pushed.stderr)")
    }

    func head(_ clone: String) throws -> String {
        try git(clone, "rev-parse", "HEAD").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
