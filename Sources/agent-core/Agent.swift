import ArgumentParser
import EnvAgentCore

@main
struct Agent: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "An encrypted secrets store inside your git repository.",
        discussion: """
            Values are encrypted with libsodium and committed through libgit2; listings are masked, \
            and decrypted .env files are rendered only for the names you ask for.
            """,
        version: EnvAgentVersion.description,
        subcommands: [
            InitCommand.self, KeygenCommand.self, WhoamiCommand.self, PassphraseCommand.self,
            CreateCommand.self, UpdateCommand.self, SetCommand.self,
            GetCommand.self, ListCommand.self, DeleteCommand.self, EnvsCommand.self,
            RenderCommand.self, RunCommand.self, ImportCommand.self, CopyCommand.self, BaseCommand.self, HistoryCommand.self,
            RecipientsCommand.self, RotateCommand.self, VerifyCommand.self, TrustCommand.self, UpgradeCommand.self, AdoptCommand.self,
            SyncCommand.self, WatchCommand.self, ResolveCommand.self, SetupMergeCommand.self, MergeDriverCommand.self,
            HooksCommand.self, LegacyHookCommand.self, AllowCommand.self, ScanCommand.self, GCCommand.self,
            ServeCommand.self, TokensCommand.self, StartCommand.self, StopCommand.self, StatusCommand.self,
            EditCommand.self, TextconvCommand.self,
        ]
    )
}
