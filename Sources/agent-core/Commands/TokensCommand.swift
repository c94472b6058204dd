import ArgumentParser
import EnvAgentCore
#if canImport(Glibc)
import Glibc
#endif

struct TokensCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokens",
        abstract: "Create, list and revoke bearer tokens for `agent serve`.",
        discussion: """
            Tokens are kept outside the repository, in the state folder \
            (${XDG_STATE_HOME:-~/.local/state}/envagent, mode 0700; tokens.json mode 0600), as a \
            salted hash only: a token is printed once, when it is created.
            """,
        subcommands: [TokensCreateCommand.self, TokensListCommand.self, TokensRevokeCommand.self])
}

/// Flags of the `tokens` subcommands: the common ones and where tokens are kept (no
/// `--env`/`--identity`: `tokens create --env` names the environments a token may reach).
struct TokenOptions: ParsableArguments, ReportingOptions {
    @OptionGroup var location: StoreOptions

    @Option(help: ArgumentHelp("Where API tokens are kept (default: ${XDG_STATE_HOME:-~/.local/state}/envagent).", valueName: "dir"))
    var stateDir: String?

    var json: Bool { location.json }

    var tokens: TokenStore { TokenStore(directory: stateDir ?? TokenStore.defaultDirectory()) }

    func storeID() throws -> String {
        try Store.open(path: location.store).snapshot().requireHeader().storeID
    }
}

struct TokensCreateCommand: AgentCommand {
    static let configuration = CommandConfiguration(
        commandName: "create", abstract: "Create a token and print it (once).")

    @OptionGroup var global: TokenOptions

    @Option(name: .long, parsing: .singleValue, help: ArgumentHelp("read (masked metadata), write (create/update/delete; implies read), reveal (the decrypted dotenv endpoint). Repeatable.", valueName: "scope"))
    var scope: [String] = []

    @Option(name: .customLong("env"), parsing: .singleValue, help: ArgumentHelp("Restrict the token to this environment. Repeatable; default: all.", valueName: "name"))
    var environments: [String] = []

    @Option(help: ArgumentHelp("Lifetime, e.g. 30d, 12h, 90m, 2w (default: no expiry).", valueName: "duration"))
    var ttl: String?

    @Option(help: ArgumentHelp("A note shown by `agent tokens list`.", valueName: "text"))
    var label: String?

    func validate() throws {
        guard !scope.isEmpty else { throw ValidationError("pass at least one --scope read|write|reveal") }
        for name in scope where TokenScope(rawValue: name) == nil {
            throw ValidationError("unknown scope '\(name)': use read, write or reveal")
        }
        if let ttl, Self.seconds(ttl) == nil { throw ValidationError("--ttl must be a number with a unit s, m, h, d or w (e.g. 30d)") }
    }

    func execute() throws {
        let (token, record) = try global.tokens.create(
            scopes: scope.compactMap(TokenScope.init(rawValue:)), environments: environments,
            ttlSeconds: ttl.flatMap(Self.seconds), label: label, store: global.storeID(), now: Int64(time(nil)))
        if global.json {
            try Console.json(TokenRow(record, includeToken: token))
        } else {
            Console.err("token \(record.id) created (\(TokenRow(record).summary)); it is shown only this once:")
            Console.out(token)
        }
    }

    static func seconds(_ text: String) -> Int64? {
        // Only the syntax here: a count too large for Int64 saturates, and `TokenStore.create`
        // refuses it with the range (validation_error) the server shares.
        guard let unit = text.last, text.count > 1, text.dropLast().allSatisfy(\.isASCII), text.dropLast().allSatisfy(\.isNumber) else { return nil }
        let count = Int64(text.dropLast()) ?? .max
        guard count > 0 else { return nil }
        let factor: Int64
        switch unit {
        case "s": factor = 1
        case "m": factor = 60
        case "h": factor = 3600
        case "d": factor = 86400
        case "w": factor = 7 * 86400
        default: return nil
        }
        let (seconds, overflow) = count.multipliedReportingOverflow(by: factor)
        return overflow ? .max : seconds
    }
}

struct TokensListCommand: AgentCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List the tokens of the store (never the tokens themselves).")

    @OptionGroup var global: TokenOptions

    func execute() throws {
        let records = try global.tokens.list(store: global.storeID())
        let rows = records.map { TokenRow($0) }
        let now = Int64(time(nil))
        if global.json {
            try Console.json(rows)
        } else if rows.isEmpty {
            Console.err("no tokens; create one with `agent tokens create --scope read`")
        } else {
            Console.table(["ID", "SCOPES", "ENVS", "CREATED", "EXPIRES", "LABEL"],
                          zip(records, rows).map { record, row in
                              // The record's own check, the one the server applies.
                              [row.id, row.scopes.joined(separator: ","), row.environments.isEmpty ? "*" : row.environments.joined(separator: ","),
                               row.createdAt, row.expiresAt.map { $0 + (record.isExpired(now: now) ? " (expired)" : "") } ?? "never", row.label ?? ""]
                          })
        }
    }
}

struct TokensRevokeCommand: AgentCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke", abstract: "Revoke a token (a running server refuses it at once).")

    @OptionGroup var global: TokenOptions

    @Argument(help: "The token's id (from `agent tokens list`).")
    var id: String

    func execute() throws {
        let record = try global.tokens.revoke(id)
        if global.json {
            try Console.json(TokenRow(record))
        } else {
            Console.err("token \(record.id) revoked")
        }
    }
}

/// A token as shown: never its hash or salt; the token text only right after `create --json`.
struct TokenRow: Encodable {
    var id: String
    var token: String?
    var scopes: [String]
    var environments: [String]
    var label: String?
    var createdAt: String
    var expiresAt: String?

    enum CodingKeys: String, CodingKey {
        case id, token, scopes, environments, label
        case createdAt = "created_at"
        case expiresAt = "expires_at"
    }

    init(_ record: TokenRecord, includeToken token: String? = nil) {
        id = record.id
        self.token = token
        scopes = record.scopes.map(\.rawValue)
        environments = record.environments
        label = record.label
        createdAt = Timestamp.format(record.created)
        expiresAt = record.expires.map(Timestamp.format)
    }

    var summary: String {
        "scopes \(scopes.joined(separator: ",")); environments \(environments.isEmpty ? "all" : environments.joined(separator: ",")); expires \(expiresAt ?? "never")"
    }
}
