import ArgumentParser
import EnvAgentCore

/// Remote, deadline and SSH options of commands that talk to a git remote.
struct RemoteOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The git remote.", valueName: "name")) var remote = "origin"
    @Option(help: ArgumentHelp("Seconds to wait for the remote before gateway_timeout.", valueName: "seconds")) var timeout = 30
    @Option(name: .customLong("ssh-key"), help: ArgumentHelp("Private key file for ssh:// remotes (default: $AGENT_SSH_KEY, else ssh-agent).", valueName: "file"))
    var sshKey: String?
    @Flag(name: .customLong("accept-new-host-key"), help: "Trust and record an SSH host key not yet in ~/.ssh/known_hosts.")
    var acceptNewHostKey = false

    func validate() throws {
        guard timeout > 0 else { throw ValidationError("--timeout must be positive") }
    }

    var transfer: TransferOptions {
        TransferOptions(timeoutSeconds: timeout,
                        sshKeyFile: sshKey ?? FileIO.environment("AGENT_SSH_KEY").flatMap { $0.isEmpty ? nil : $0 },
                        acceptNewHostKey: acceptNewHostKey)
    }
}

struct SyncCommand: AgentCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Fetch, merge key by key, push (retrying when someone pushed meanwhile).",
        discussion: "A secret changed differently on both sides stops the sync with merge_conflict (exit 12) and nothing is pushed; finish with `agent resolve`.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var remote: RemoteOptions
    @Flag(name: .customLong("pull-only"), help: "Fetch and merge, push nothing.") var pullOnly = false

    func execute() throws {
        let result = try global.operations().sync(remote: remote.remote, options: remote.transfer, pullOnly: pullOnly)
        if global.json { return try Console.json(result) }
        let retries = result.attempts > 1 ? " after \(result.attempts) attempts" : ""
        Console.out("\(result.action): \(result.remote)/\(result.branch)\(result.commit.map { " at \($0.prefix(10))" } ?? "")\(retries)")
        if !result.changed.isEmpty { Console.out("changed here: \(result.changed.joined(separator: ", "))") }
        if !result.reencrypted.isEmpty {
            Console.out("re-encrypted here (values unchanged): \(result.reencrypted.count == 1 ? result.reencrypted[0] : "\(result.reencrypted.count) secrets")")
        }
    }
}

struct ResolveCommand: AgentCommand {
    static let configuration = CommandConfiguration(
        commandName: "resolve",
        abstract: "Decide a conflict of a stopped sync: --ours, --theirs, or a new value on stdin.",
        discussion: "When every conflict has a decision the merge is committed; `agent sync` then pushes it.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The conflicting secret.") var name: String
    @Flag(help: "Keep this side's value.") var ours = false
    @Flag(help: "Take the remote's value.") var theirs = false

    func validate() throws {
        guard !(ours && theirs) else { throw ValidationError("choose one of --ours and --theirs") }
    }

    func execute() throws {
        let value = ours || theirs ? nil : try ValueOptions.pipedOrPrompted(for: name)
        let result = try global.operations().resolve(name: name, environment: global.environment,
                                                     decision: theirs ? .theirs : (ours ? .ours : nil), value: value)
        if global.json { return try Console.json(result) }
        Console.out("\(result.environment)/\(result.name): \(value == nil ? result.decision : "new value")")
        if let merged = result.merged {
            Console.out("merged at \(merged.prefix(10)); run `agent sync` to push it")
        } else {
            Console.out("still to resolve: \(result.remaining.joined(separator: ", "))")
        }
    }
}

struct MergeDriverCommand: AgentCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge-driver",
        abstract: "Git merge driver for store files (configured by `agent init` / `agent setup-merge`).",
        shouldDisplay: false)
    @OptionGroup var global: GlobalOptions
    @Argument var base: String
    @Argument var ours: String
    @Argument var theirs: String
    @Argument var path: String

    func execute() throws {
        let conflicts = try global.operations().mergeDriver(basePath: base, oursPath: ours, theirsPath: theirs, path: path)
        guard conflicts.isEmpty else {
            Console.err("agent: \(path): secrets changed differently on both sides, or mapped to one env var: \(conflicts.joined(separator: ", "))")
            Console.err("hint: `git merge --abort` and use `agent sync` / `agent resolve`, or edit the lines and `git add` the file")
            throw ExitCode(1)
        }
    }
}

struct SetupMergeCommand: AgentCommand {
    static let configuration = CommandConfiguration(
        commandName: "setup-merge",
        abstract: "Register the key-level merge driver and the readable-diff driver in this clone's git config.")
    @OptionGroup var global: GlobalOptions

    func execute() throws {
        let executable = GlobalOptions.userFacingExecutable
        try global.operations().setupMergeDriver(executable: executable)
        if global.json { return try Console.json(["driver": executable]) }
        Console.out("merge.envagent.driver set to \(executable) (store files are routed to it by .gitattributes)")
        Console.out("diff.envagent.textconv set to \(executable) textconv (git diff / git log -p show masked per-secret changes)")
    }
}
