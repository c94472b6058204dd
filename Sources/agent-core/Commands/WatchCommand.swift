import ArgumentParser
import EnvAgentCore
import Logging

struct WatchCommand: AgentCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Keep syncing and keep the render targets current (a long-running agent for servers).",
        discussion: """
            Every --interval seconds: sync (fetch and merge; also push unless --pull-only), then re-render \
            each target of .envagent/targets whose content changed and run its on-change command. Logs one \
            line per sync to stderr (never a value). SIGTERM/SIGINT stop it between cycles; SIGHUP re-reads \
            the targets file. A passphrase-protected identity is unlocked once at start (terminal, or the file \
            named by AGENT_PASSPHRASE_FILE). A failing remote or a bad commit leaves every rendered file as it was.
            """)
    @OptionGroup var global: GlobalOptions
    @OptionGroup var remote: RemoteOptions
    @Option(help: ArgumentHelp("Seconds between syncs.", valueName: "seconds")) var interval = 30
    @Flag(name: .customLong("pull-only"), help: "Fetch and merge, push nothing (the usual choice on servers).") var pullOnly = false

    func validate() throws {
        guard interval > 0 else { throw ValidationError("--interval must be positive") }
    }

    func execute() throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        var logger = Logger(label: "agent.watch")
        logger.logLevel = .info
        // A protected identity is unlocked once, here (terminal or AGENT_PASSPHRASE_FILE); the
        // cycles use the resident key and never prompt.
        if try global.identitySource.publicKey() != nil { try global.identitySource.unlockResident() }
        let operations = try GlobalOptions.operations(storePath: global.store, identityFile: global.identity,
                                                      passphraseProvider: .nonInteractive)
        // A long-running process packs inline (between cycles nobody waits) rather than leave
        // background children to reap.
        operations.store.packing = .inline
        logger.info("watching", metadata: ["remote": "\(remote.remote)", "interval": "\(interval)s", "pull-only": "\(pullOnly)"])
        try operations.watch(interval: interval, remote: remote.remote, options: remote.transfer, pullOnly: pullOnly) { event in
            switch event {
            case .synced(let result):
                logger.info("sync", metadata: ["action": "\(result.action)", "commit": "\(result.commit?.prefix(10) ?? "-")",
                                               "changed": "\(result.changed.joined(separator: ","))", "attempts": "\(result.attempts)"])
            case .rendered(let targets):
                let written = targets.filter { $0.outcome == .written }.map(\.output)
                logger.info("targets", metadata: ["rewritten": "\(written.joined(separator: ","))",
                                                  "unchanged": "\(targets.filter { $0.outcome == .unchanged }.count)"])
                for target in targets where target.outcome == .failed || target.outcome == .skipped {
                    logger.warning("target not rendered (the old file stays)", metadata: [
                        "target": "\(target.target)", "outcome": "\(target.outcome.rawValue)", "error": "\(target.message ?? "")"])
                }
            case .onChange(let target, let command, let status):
                let level: Logger.Level = status == 0 ? .info : .warning
                logger.log(level: level, "on-change", metadata: ["target": "\(target)", "command": "\(command)", "status": "\(status)"])
            case .failed(let error, let retry):
                logger.error("sync failed", metadata: ["type": "\(error.kind.rawValue)", "error": "\(error.message)", "retry_in": "\(retry)s"])
            case .reloaded:
                logger.info("SIGHUP: re-reading the targets")
            case .stopping(let signal):
                logger.info("stopping", metadata: ["signal": "\(signal)"])
            }
        }
    }
}
