import Foundation
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `agent edit` through the built binary, with `EDITOR` set to a shell script that records the
/// file's path and modes (and content) before changing it.
@Suite struct EditCLITests {
    /// A sandbox with three secrets, one of them holding quotes, `$`, a backslash and a newline.
    func seeded() throws -> Sandbox {
        let box = try Sandbox()
        #expect(try box.agent("init").status == 0)
        #expect(try box.agent("set", "API_KEY", stdin: "sk-edit-value-000001").status == 0)
        #expect(try box.agent("set", "DB_URL", stdin: "postgres://u:pw@db/app").status == 0)
        #expect(try box.agent("set", "ODD", stdin: "it's \"$HOME\" \\ and\nline two").status == 0)
        try FileManager.default.createDirectory(atPath: box.root + "/run", withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        return box
    }

    /// An editor script: logs `MODE PATH` of the file and its folder, copies the file it got to
    /// `seen`, runs `body` (sh, the file is "$1"), exits with `status`.
    func editor(_ box: Sandbox, _ body: String, status: Int = 0) throws -> [String: String] {
        let script = box.root + "/editor-\(UUID().uuidString.prefix(6)).sh"
        try """
            #!/bin/sh
            stat -c '%a %n' "$1" "$(dirname "$1")" > \(box.root)/editor.log
            cp "$1" \(box.root)/seen
            \(body)
            exit \(status)

            """.write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        return ["EDITOR": script, "VISUAL": "", "XDG_RUNTIME_DIR": box.root + "/run"]
    }

    func commits(_ box: Sandbox) throws -> Int {
        Int(try box.git("rev-list", "--count", "HEAD").stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }

    /// The edited file and its folder as the editor saw them: modes and paths.
    func editorLog(_ box: Sandbox) throws -> (fileMode: String, file: String, folderMode: String, folder: String) {
        let lines = try String(contentsOfFile: box.root + "/editor.log", encoding: .utf8).split(separator: "\n")
        let file = lines[0].split(separator: " ", maxSplits: 1), folder = lines[1].split(separator: " ", maxSplits: 1)
        return (String(file[0]), String(file[1]), String(folder[0]), String(folder[1]))
    }

    @Test func createsUpdatesAndDeletesInOneCommit() throws {
        let box = try seeded()
        let before = try commits(box)
        let env = try editor(box, """
            sed -i -e 's/sk-edit-value-000001/sk-edit-value-000002/' -e '/^DB_URL=/d' "$1"
            echo "NEW_TOKEN='brand-new-token-1'" >> "$1"
            """)
        let edited = try box.agent(["edit", "--json"], env: env)
        #expect(edited.status == 0, "\(edited.stderr)")
        let result = try JSONSerialization.jsonObject(with: Data(edited.stdout.utf8)) as? [String: Any]
        #expect(result?["created"] as? [String] == ["NEW_TOKEN"])
        #expect(result?["updated"] as? [String] == ["API_KEY"])
        #expect(result?["deleted"] as? [String] == ["DB_URL"])
        #expect(try commits(box) == before + 1)
        let message = try box.git("log", "-1", "--format=%s").stdout
        #expect(message == "edit 3 secrets (dev): API_KEY, DB_URL, NEW_TOKEN\n")
        // The odd value went through the editor and came back byte for byte (not rewritten).
        let rendered = try box.agent("render", "--format", "json").stdout
        let values = try JSONSerialization.jsonObject(with: Data(rendered.utf8)) as? [String: String]
        #expect(values == ["API_KEY": "sk-edit-value-000002", "NEW_TOKEN": "brand-new-token-1",
                           "ODD": "it's \"$HOME\" \\ and\nline two"])
        // The editor got a 0600 file in a fresh 0700 folder under XDG_RUNTIME_DIR, gone afterwards.
        let log = try editorLog(box)
        #expect(log.fileMode == "600" && log.folderMode == "700", "\(log)")
        #expect(log.folder.hasPrefix(box.root + "/run/agent-edit."))
        #expect(!FileManager.default.fileExists(atPath: log.file) && !FileManager.default.fileExists(atPath: log.folder))
        #expect(try FileManager.default.contentsOfDirectory(atPath: box.root + "/run").isEmpty)
        // What the editor saw: every value readable, in .env form.
        let seen = try String(contentsOfFile: box.root + "/seen", encoding: .utf8)
        #expect(seen.contains("API_KEY='sk-edit-value-000001'\n") && seen.contains("DB_URL='postgres://u:pw@db/app'\n"))
        #expect(seen.contains("ODD=\"it's \\\"\\$HOME\\\" \\\\ and\\nline two\"\n"), "\(seen)")
        #expect(!edited.stderr.contains("sk-edit") && !edited.stdout.contains("sk-edit"))
    }

    @Test func unchangedOrFailedEditorCommitsNothing() throws {
        let box = try seeded()
        let before = try commits(box)
        let untouched = try box.agent(["edit"], env: try editor(box, ":"))
        #expect(untouched.status == 0 && untouched.stdout.contains("no changes"), "\(untouched.stderr)")
        // Saved without a real change (a reformatted line): still nothing to commit.
        let reformatted = try box.agent(["edit"], env: try editor(box, "sed -i 's/^API_KEY=.*/API_KEY=sk-edit-value-000001/' \"$1\""))
        #expect(reformatted.status == 0 && reformatted.stdout.contains("no changes"), "\(reformatted.stderr)")
        #expect(try commits(box) == before)

        let failed = try box.agent(["edit", "--json"], env: try editor(box, "echo 'NEW=value-000001' >> \"$1\"", status: 1))
        #expect(failed.status != 0 && failed.envelope?["type"] as? String == "invalid_request", "\(failed.stderr)")
        #expect(failed.stderr.contains("editor_failed"))
        #expect(try commits(box) == before)
        let log = try editorLog(box)
        #expect(!FileManager.default.fileExists(atPath: log.folder))
        #expect(try box.agent("get", "NEW").status == 5)
    }

    @Test func malformedResultNamesItsLineAndAbortsWithoutTerminal() throws {
        let box = try seeded()
        let before = try commits(box)
        let env = try editor(box, """
            sed -i 's/sk-edit-value-000001/sk-edit-value-000009/' "$1"
            printf 'this line is not an assignment\\n' >> "$1"
            """)
        let malformed = try box.agent(["edit"], env: env)
        let lines = try String(contentsOfFile: box.root + "/seen", encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).count
        #expect(malformed.status == 2, "\(malformed.stderr)")
        #expect(malformed.stderr.contains("line \(lines): expected KEY=value"), "\(malformed.stderr)")
        #expect(!malformed.stderr.contains("Reopen"))
        #expect(try commits(box) == before)
        #expect(try box.agent("get", "API_KEY", "--reveal").stdout.hasPrefix("sk-edit-value-000001"))
        #expect(!FileManager.default.fileExists(atPath: try editorLog(box).folder))
    }

    @Test func writeOnlyValuesAreCommentsAndKeptUnlessSet() throws {
        let box = try seeded()
        let nobody = ["XDG_CONFIG_HOME": box.root + "/nobody"]
        let env = try editor(box, "echo \"API_KEY='sk-written-blind-0003'\" >> \"$1\"").merging(nobody) { $1 }
        let edited = try box.agent(["edit"], env: env)
        #expect(edited.status == 0, "\(edited.stderr)")
        #expect(edited.stdout.contains("1 updated (API_KEY)") && edited.stderr.contains("written write-only"))
        let seen = try String(contentsOfFile: box.root + "/seen", encoding: .utf8)
        #expect(seen.contains("# API_KEY=…  (write-only: you cannot read it"), "\(seen)")
        #expect(!seen.contains("sk-edit-value") && !seen.contains("postgres://"))
        // The member reads the new value; the others are as they were.
        #expect(try box.agent("get", "API_KEY", "--reveal").stdout.hasPrefix("sk-written-blind-0003"))
        #expect(try box.agent("get", "DB_URL", "--reveal").stdout.hasPrefix("postgres://u:pw@db/app"))
        // A write-only writer cannot delete by removing lines (there are none to remove).
        let cleared = try box.agent(["edit"], env: try editor(box, ": > \"$1\"").merging(nobody) { $1 })
        #expect(cleared.status == 0 && cleared.stdout.contains("no changes"), "\(cleared.stdout)\(cleared.stderr)")
        #expect(try box.agent("list", "--json").stdout.contains("DB_URL"))
    }

    /// On a terminal (util-linux `script` gives agent one) a malformed result offers to reopen
    /// the editor on the same text: yes fixes and commits, no aborts.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/script"), "needs util-linux script"),
          arguments: [true, false])
    func malformedResultOnATerminalOffersToReopen(_ answer: Bool) throws {
        let box = try seeded()
        let before = try commits(box)
        let env = try editor(box, """
            if [ ! -e \(box.root)/opened ]; then
                touch \(box.root)/opened; echo 'this line is not an assignment' >> "$1"
            else
                sed -i -e '/^this line/d' -e 's/sk-edit-value-000001/sk-edit-value-000005/' "$1"
            fi
            """)
        let run = try box.exec("/usr/bin/script", ["-qec", "'\(agentBinary)' edit", "/dev/null"], stdin: answer ? "y\n" : "n\n",
                               env: env, cwd: box.repo)
        #expect(run.stdout.contains("line ") && run.stdout.contains("expected KEY=value") && run.stdout.contains("Reopen the editor to fix it?"), "\(run.stdout)")
        if answer {
            #expect(run.status == 0 && run.stdout.contains("edited dev: 1 updated (API_KEY)"), "\(run.stdout)")
            #expect(try commits(box) == before + 1)
            #expect(try box.agent("get", "API_KEY", "--reveal").stdout.hasPrefix("sk-edit-value-000005"))
        } else {
            #expect(run.status == 2 && run.stdout.contains("nothing was written"), "\(run.stdout)")
            #expect(try commits(box) == before)
        }
        #expect(!FileManager.default.fileExists(atPath: try editorLog(box).folder))
    }

    @Test func signalWipesTheFileAndEndsLikeTheSignal() throws {
        let box = try seeded()
        let before = try commits(box)
        let env = try editor(box, "echo \"NEW=value-000001\" >> \"$1\"; touch \(box.root)/ready; sleep 30")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: agentBinary)
        process.arguments = ["edit"]
        process.currentDirectoryURL = URL(fileURLWithPath: box.repo)
        process.environment = box.environment.merging(ProcessInfo.processInfo.environment.filter { $0.key == "PATH" }) { $1 }
            .merging(env) { $1 }.filter { !$0.value.isEmpty }
        process.standardError = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        #expect(eventually { FileManager.default.fileExists(atPath: box.root + "/ready") })
        let folder = try editorLog(box).folder
        #expect(FileManager.default.fileExists(atPath: folder))
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        #expect(process.terminationReason == .uncaughtSignal && process.terminationStatus == SIGTERM)
        #expect(!FileManager.default.fileExists(atPath: folder))
        #expect(try commits(box) == before)
    }
}
