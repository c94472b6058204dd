import ArgumentParser
import EnvAgentCore
#if canImport(Glibc)
import Glibc
#endif

struct EditCommand: AgentCommand {
    static let configuration = CommandConfiguration(
        commandName: "edit",
        abstract: "Edit an environment's values in $VISUAL / $EDITOR; the result is one commit.",
        discussion: """
            The values are written as a .env file (mode 0600, in a fresh 0700 folder on a RAM-backed file \
            system when there is one: $XDG_RUNTIME_DIR or /dev/shm), which is overwritten and removed \
            afterwards, also on errors and signals. A new line creates a secret, a changed value updates \
            it, a removed line deletes it, all in ONE commit. Nothing is written when nothing changed or \
            when the editor exits with an error (vim: :cq). A malformed line is named; on a terminal \
            agent offers to reopen the editor, otherwise it stops. Values you cannot read (write-only \
            for you) are listed as comments and kept unless you add a KEY=value line for them.
            """)
    @OptionGroup var global: GlobalOptions
    @Flag(name: .customLong("allow-exec-env-var"),
          help: "Allow keys that change what a process runs or loads (PATH, LD_*, NODE_OPTIONS, …); members only.")
    var allowsExecutionEnvVars = false

    func execute() throws {
        let operations = try global.operations()
        let environment = global.environment
        let session = try operations.beginEdit(environment: environment)
        let folder = try ScratchFolder()
        defer { folder.wipe() }
        let file = try folder.create("\(environment).env", bytes: session.text)
        let editor = ["VISUAL", "EDITOR"].lazy.compactMap { FileIO.environment($0) }.first { !$0.isEmpty } ?? "vi"
        let result: EditResult
        while true {
            let status = Self.runEditor(editor, file: file, folder: folder)
            guard status == 0 else {
                throw AgentError(.invalidRequest, "the editor exited with status \(ChildProcess.exitCode(status)): nothing changed",
                                 details: [.init(loc: ["editor"], msg: "the editor failed", type: "editor_failed")])
            }
            var edited: [UInt8]
            do { edited = try FileIO.read(file) } catch {
                throw AgentError(.invalidRequest, "the edited file is gone (\(file)): nothing changed")
            }
            defer { Crypto.wipe(&edited) }
            let same = session.text.matches(edited)
            if same {
                result = EditResult(environment: environment)
                break
            }
            do {
                result = try operations.applyEdit(session, edited: edited, allowingExecutionEnvVars: allowsExecutionEnvVars)
                break
            } catch var error as AgentError where error.kind == .invalidRequest || error.kind == .validationError {
                guard Self.ask("agent: error: \(error.message)\nReopen the editor to fix it? [Y/n] ") else {
                    error.hint = error.hint ?? "nothing was written; run `agent edit` again"
                    throw error
                }
            }
        }
        if global.json {
            try Console.json(result)
        } else if !result.changed {
            Console.out("no changes (\(environment)): nothing committed")
        } else {
            var parts: [String] = []
            for (label, names) in [("created", result.created), ("updated", result.updated), ("deleted", result.deleted)] where !names.isEmpty {
                parts.append("\(names.count) \(label) (\(names.joined(separator: ", ")))")
            }
            Console.out("edited \(environment): \(parts.joined(separator: ", "))")
            if result.sealed { Console.err(Self.writeOnlyNote(environment)) }
        }
    }

    /// Runs `editor FILE` through `/bin/sh` (so `EDITOR="code --wait"` works) and returns its
    /// wait status. A terminal's ^C and ^\ are the editor's; a hang-up, a SIGTERM or a signal
    /// sent to agent ends the editor, wipes the folder and ends agent with that signal.
    private static func runEditor(_ editor: String, file: String, folder: ScratchFolder) -> Int32 {
        let signals = ChildProcess.blockHandledSignals()
        defer {
            while ChildProcess.nextSignal(signals, timeout: 0) != nil {} // the editor's ^C are not ours
            var set = signals
            pthread_sigmask(SIG_UNBLOCK, &set, nil)
        }
        let child: ChildProcess
        // Without a terminal the editor (a script) gets a process group of its own, so a signal
        // ends it with everything it started; on a terminal it must stay in the foreground group.
        switch ChildProcess.spawn(["/bin/sh", "-c", "exec " + editor + " \"$@\"", editor, file], ownGroup: isatty(0) == 0) {
        case .success(let started): child = started
        case .failure: return 127 << 8
        }
        var abort: Int32?
        let status = child.wait(signals) { signal, fromTerminal in
            guard signal == SIGTERM || signal == SIGHUP || !fromTerminal else { return }
            abort = abort ?? signal
            child.send(signal)
        }
        if let abort {
            folder.wipe()
            Console.err("agent: edit stopped by signal \(abort): nothing changed")
            ChildProcess.exit(like: abort)
        }
        return status
    }

    /// Asks a yes/no question on the terminal (yes by default); false without a terminal.
    private static func ask(_ question: String) -> Bool {
        guard isatty(0) == 1 else { return false }
        guard let tty = Terminal.open() else { return false }
        defer { close(tty) }
        var question = question
        question.withUTF8 { _ = Glibc.write(tty, $0.baseAddress!, $0.count) }
        var answer: [UInt8] = []
        var byte: UInt8 = 0
        while Glibc.read(tty, &byte, 1) == 1 && byte != UInt8(ascii: "\n") { answer.append(byte) }
        let text = String(decoding: answer.filter { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\r") }, as: UTF8.self).lowercased()
        return text.isEmpty || text == "y" || text == "yes"
    }
}
