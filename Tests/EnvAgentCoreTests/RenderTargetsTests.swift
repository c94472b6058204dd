import Foundation
import Testing
@testable import EnvAgentCore

@Suite struct RenderTargetsTests {
    func parse(_ text: String) throws -> RenderTargets { try RenderTargets.parse(Array(text.utf8)) }

    @Test func parsesEveryFieldAndDefaults() throws {
        let config = try parse("""
            # comment
            ; another
            [target app]
            environment = dev
            output = ./config//.env
            names = DATABASE_URL, OPENAI_KEY
            format = sh
            mode = 0640
            on-change = systemctl reload app

            [target ci]
            environment=ci
            output=/run/app/env
            """)
        #expect(config.targets.count == 2)
        let app = config.targets[0]
        #expect(app.name == "app" && app.environment == "dev" && app.output == "config/.env")
        #expect(app.names == ["DATABASE_URL", "OPENAI_KEY"] && app.format == .sh && app.mode == 0o640)
        #expect(app.onChange == "systemctl reload app" && app.line == 3)
        let ci = config.targets[1]
        #expect(ci.names.isEmpty && ci.format == .env && ci.mode == 0o600 && ci.onChange == nil && ci.output == "/run/app/env")
        #expect(config.isOutput("config/.env") && !config.isOutput(".env"))
        #expect(try parse("").targets.isEmpty)
    }

    /// Each malformed file fails `invalid_request` naming the line of the problem.
    @Test(arguments: [
        ("[target a]\nenvironment = dev\noutput = .env\nmode = 999\n", 4, "mode"),
        ("environment = dev\n", 1, "before any [target"),
        ("[target a]\nenvironment = dev\n\noutput = .env\nformat = xml\n", 5, "format"),
        ("[target a]\nenvironment = dev\noutput = .env # a comment\nmode = # only a comment\n", 4, "mode has no value"),
        ("[target a]\noutput = .env\n", 1, "no environment"),
        ("[target a]\nenvironment = dev\noutput = ../.env\n", 3, ".."),
        ("[target a]\nenvironment = dev\noutput = .envagent/x\n", 3, ".envagent"),
        ("[target a]\nenvironment = dev\noutput = /run/app/\n", 3, "name a file"),
        ("[target a]\nenvironment = dev\noutput = /run/app/..\n", 3, "name a file"),
        ("[target a]\nenvironment = dev\noutput = .env\ncolour = red\n", 4, "unknown key"),
        ("[target a]\nenvironment = dev\nenvironment = prod\n", 3, "twice"),
        ("[target a]\nenvironment = dev\noutput = .env\n[target b]\nenvironment = prod\noutput = .env\n", 4, "like target 'a'"),
        ("[target a]\nenvironment = dev\noutput = .env\nnames = all X\n", 4, "all"),
        ("[app]\n", 1, "expected [target NAME]"),
        ("[target a]\nenvironment = dev\noutput .env\n", 3, "KEY = VALUE"),
    ])
    func reportsTheLine(text: String, line: Int, mentions: String) {
        do {
            _ = try parse(text)
            Issue.record("parsed: \(text)")
        } catch let error as AgentError {
            #expect(error.kind == .invalidRequest)
            #expect(error.message.hasPrefix(".envagent/targets line \(line): "), "\(error.message)")
            #expect(error.message.contains(mentions), "\(error.message)")
        } catch {
            Issue.record("\(error)")
        }
    }

    /// ` # comment` after a value ends the value; a `#` inside a word does not.
    @Test func commentsAfterValues() throws {
        let config = try parse("""
            [target app]\t# the app
            environment = dev # the environment
            output = out/a#b.env\t# tab before the comment
            on-change = make reload   # after a command
            """)
        #expect(config.targets.count == 1)
        let app = config.targets[0]
        #expect(app.environment == "dev" && app.output == "out/a#b.env" && app.onChange == "make reload")
    }

    /// The example in README "Render targets" parses verbatim, comments and all.
    @Test func readmeExampleParses() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let readme = try String(contentsOfFile: root.appendingPathComponent("README.md").path, encoding: .utf8)
        let example = try #require(Self.targetsExample(in: readme))
        let config = try parse(example)
        #expect(config.targets.map(\.name) == ["app", "ci"])
        let app = config.targets[0]
        #expect(app.environment == "dev" && app.output == ".env" && app.names.isEmpty && app.format == .env && app.mode == 0o600)
        #expect(app.onChange == "docker compose restart app")
        #expect(config.targets[1].output == "/run/app/env")
    }

    /// The first ```ini block after the "## Render targets" heading.
    static func targetsExample(in readme: String) -> String? {
        guard let section = readme.range(of: "\n## Render targets\n"),
              let open = readme.range(of: "```ini\n", range: section.upperBound..<readme.endIndex),
              let close = readme.range(of: "\n```", range: open.upperBound..<readme.endIndex) else { return nil }
        return String(readme[open.upperBound..<close.lowerBound]) + "\n"
    }

    /// The scripts `agent hooks install` writes are the files of hooks/ (embedded at build
    /// time), and each file is what its marker says: this version, calling `agent hooks run`
    /// with its own name, executable, valid sh.
    @Test func shippedHookScriptsAreThisVersionAndCallTheirOwnHook() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        for name in HookScripts.names {
            let path = root.appendingPathComponent("hooks/\(name)").path
            let shipped = try String(contentsOfFile: path, encoding: .utf8)
            #expect(Array(shipped.utf8) == HookScripts.script(name), "hooks/\(name) is not what the binary embeds")
            let lines = shipped.split(separator: "\n", omittingEmptySubsequences: false)
            #expect(lines.first == "#!/bin/sh")
            #expect(lines.dropFirst().first?.hasPrefix("\(HookScripts.marker)\(HookScripts.version) \(name):") == true, "hooks/\(name): \(lines.dropFirst().first ?? "")")
            #expect(lines.contains { $0.contains("agent hooks run \(name) \"$@\"") }, "hooks/\(name) does not run its own hook")
            #expect(!lines.contains { $0.contains("agent hook ") }, "hooks/\(name) calls the version-1 command")
            #expect(FileManager.default.isExecutableFile(atPath: path), "hooks/\(name) is not executable")
            #expect(try run("/bin/sh", ["-n", path]).status == 0)
        }
        #expect(HookScripts.script("pre-push") == nil)
    }
}
