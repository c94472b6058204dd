import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Odd input is a clean, typed error (issue 14): never a crash, a silent change or internal_error.
@Suite struct OddInputCLITests {
    /// A store with A, B and C in `dev`.
    func seededBox() throws -> Sandbox {
        let box = try Sandbox()
        #expect(try box.agent("init").status == 0)
        try box.write("A=value-of-a-0000\nB=value-of-b-1111\nC=value-of-c-2222\n", to: "seed.env")
        #expect(try box.agent("import", "seed.env").status == 0)
        return box
    }

    func commit(_ box: Sandbox, _ message: String) throws {
        #expect(try box.git("add", "-A").status == 0)
        let committed = try box.git("commit", "-qm", message)
        #expect(committed.status == 0, "\(committed.stderr)")
    }

    @Test func tokenLifetimesAreRangeChecked() throws {
        let box = try seededBox()
        func create(_ ttl: String) throws -> Result {
            try box.agent("tokens", "create", "--scope", "read", "--ttl", ttl, "--state-dir", box.root + "/state")
        }
        for ttl in ["9223372036854775807s", "99999999999999999999999d", "1000000000000d", "3651d"] {
            let refused = try create(ttl)
            #expect(refused.status == 7 && refused.stderr.contains("3650 days"), "\(ttl): \(refused.status) \(refused.stderr)")
        }
        #expect(try create("3650d").status == 0)
        let listed = try box.agent("tokens", "list", "--state-dir", box.root + "/state")
        #expect(listed.status == 0 && !listed.stdout.contains("expired"), "\(listed.stdout)")
    }

    @Test func invalidUTF8InValueIsRefused() throws {
        let box = try seededBox()
        // The shell passes the raw byte 0xFF in argv, which Swift's String would make U+FFFD.
        for form in [#"--value "$(printf 'bad\377value')""#, #""--value=$(printf 'bad\377value')""#] {
            let result = try box.exec("/bin/sh", ["-c", "\"$AGENT\" set A \(form) </dev/null"], stdin: nil,
                                      env: ["AGENT": agentBinary], cwd: box.repo)
            #expect(result.status == 7 && result.stderr.contains("UTF-8"), "\(form): \(result.stderr)")
        }
        #expect(try box.agent("render", "A").stdout == "A='value-of-a-0000'\n")
        // Valid non-ASCII still works through argv.
        #expect(try box.agent("set", "A", "--value", "grüße-value").status == 0)
        #expect(try box.agent("render", "A").stdout == "A='grüße-value'\n")
    }

    @Test func environmentNamesOfStoreFilesAreReserved() throws {
        let box = try seededBox()
        for name in ["store", "targets", "Store", "TARGETS"] {
            for args in [["set", "X", "--env", name], ["list", "--env", name], ["recipients", "list", "--env", name]] {
                let result = try box.agent(args + ["--json"], stdin: "some-value-000")
                #expect(result.status == 7 && result.stderr.contains("reserved_name"), "\(args): \(result.stderr)")
            }
        }
        #expect(try box.agent("list").status == 0)
    }

    @Test func hugeFormatNumberNeedsAnUpgrade() throws {
        let box = try seededBox()
        let header = try String(contentsOfFile: box.repo + "/.envagent/store", encoding: .utf8)
        try box.write(header.replacingOccurrences(of: "format 2", with: "format 99999999999999999999"), to: ".envagent/store")
        try commit(box, "a store from the future")
        let result = try box.agent("list", "--json")
        #expect(result.status == 8 && result.envelope?["type"] as? String == "upgrade_required", "\(result.stderr)")
    }

    @Test func storeFileReplacedByAFolderIsNamed() throws {
        for file in ["secrets", "recipients"] {
            let box = try seededBox()
            let path = ".envagent/dev/\(file)"
            #expect(try box.git("rm", "-q", path).status == 0)
            try box.write("x\n", to: path + "/inside")
            try commit(box, "replace \(file) by a folder")
            for command in ["list", "verify", "render"] {
                let result = try box.agent(command)
                #expect(result.status != 0 && result.stderr.contains(path), "\(file) \(command): \(result.status) \(result.stderr)")
            }
        }
    }

    @Test func importValueErrorsNameKeyAndLine() throws {
        let box = try seededBox()
        let cases: [(String, String)] = [
            ("OK=fine-value\nNUL_HERE=\"a\u{0}b\"\n", "line 2 (NUL_HERE)"),
            ("OK=fine-value\n\nBIG=" + String(repeating: "x", count: 64 * 1024 + 1) + "\n", "line 3 (BIG)"),
        ]
        for (text, expected) in cases {
            try box.write(text, to: "odd.env")
            let result = try box.agent("import", "odd.env", "--json")
            #expect(result.status == 7 && result.stderr.contains(expected), "\(expected): \(result.stderr)")
            let locs = (result.envelope?["errors"] as? [[String: Any]])?.compactMap { $0["loc"] as? [String] }
            #expect(locs?.first?.contains(String(expected.split(separator: "(")[1].dropLast())) == true)
        }
        // Invalid UTF-8 needs raw bytes.
        try Data("OK=fine\nBAD_UTF8=abc".utf8 + [0xFF] + Data("\n".utf8)).write(to: URL(fileURLWithPath: box.repo + "/odd.env"))
        let result = try box.agent("import", "odd.env")
        #expect(result.status == 7 && result.stderr.contains("line 2 (BAD_UTF8)"), "\(result.stderr)")
        #expect(try box.agent("get", "OK").status == 5) // nothing written
    }

    @Test func identityFolderAndOwnerAreCheckedLikeSSH() throws {
        let box = try seededBox()
        let folder = box.root + "/config/envagent", file = folder + "/identity"
        #expect(try box.agent("whoami").status == 0)
        chmod(folder, 0o777)
        let open = try box.agent("whoami")
        #expect(open.status == 3 && open.stderr.contains("writable by others") && open.stderr.contains("chmod go-w"), "\(open.stderr)")
        chmod(folder, 0o700)
        if geteuid() == 0 { // only root can give a file away
            chown(file, 12345, 12345)
            let foreign = try box.agent("whoami")
            #expect(foreign.status == 3 && foreign.stderr.contains("belongs to another user"), "\(foreign.stderr)")
            chown(file, 0, 0)
        }
        #expect(try box.agent("whoami").status == 0)
    }

    @Test func listShowsTheLinesItCanOpen() throws {
        let box = try seededBox()
        try swapCiphertexts(of: "A", and: "B", in: box.repo)
        try commit(box, "swap two ciphertexts")
        let list = try box.agent("list")
        #expect(list.status == 0, "\(list.stderr)")
        #expect(list.stdout.contains("(does not open)") && list.stdout.contains("val••••2"), "\(list.stdout)")
        #expect(list.stderr.contains("A, B") && list.stderr.contains("verify"), "\(list.stderr)")
        let json = try box.agent("list", "--json")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])
        #expect(rows.map { $0["error"] != nil } == [true, true, false])
        #expect(!json.stdout.contains("value-of"))
        #expect(try box.agent("render").status == 1)
        #expect(try box.agent("run", "--", "/bin/true").status == 1)
    }
}

/// Exchanges the ciphertexts of two lines of `dev`'s secrets file in the work tree: each is bound
/// to its own name, so neither opens any more.
func swapCiphertexts(of first: String, and second: String, in repo: String) throws {
    let path = repo + "/.envagent/dev/secrets"
    var lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
    let a = try #require(lines.firstIndex { $0.first == first }), b = try #require(lines.firstIndex { $0.first == second })
    (lines[a][4], lines[b][4]) = (lines[b][4], lines[a][4])
    try (lines.map { $0.joined(separator: " ") }.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
}
