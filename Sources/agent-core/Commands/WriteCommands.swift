import ArgumentParser
import EnvAgentCore

/// create / update / set: one value from stdin, a prompt or --value; prints masked metadata.
protocol WriteCommand: AgentCommand where Options == GlobalOptions {
    var name: String { get }
    var valueOptions: ValueOptions { get }
    static var mode: Operations.WriteMode { get }
}

extension WriteCommand {
    func execute() throws {
        let operations = try global.operations()
        try Validation.name(name)
        let request = Operations.WriteRequest(name: name, envVar: valueOptions.envVar, value: try valueOptions.read(for: name),
                                              allowsExecutionEnvVar: valueOptions.allowsExecutionEnvVar,
                                              allowsEmpty: valueOptions.allowsEmpty)
        let result: WriteResult
        switch Self.mode {
        case .create: result = try operations.create(request, environment: global.environment)
        case .update: result = try operations.update(request, environment: global.environment)
        case .set: result = try operations.set(request, environment: global.environment)
        }
        MetadataPrinter.print(result.metadata, json: global.json)
        if !result.changed && !global.json { Console.err("(unchanged: the stored value is the same; nothing committed)") }
        if result.sealed && !global.json { Console.err(Self.writeOnlyNote(global.environment)) }
    }
}

extension AgentCommand {
    static func writeOnlyNote(_ environment: String) -> String {
        "(written write-only: sealed to the public key of environment '\(environment)'; only its members can read it)"
    }
}

struct CreateCommand: WriteCommand {
    static let configuration = CommandConfiguration(
        commandName: "create", abstract: "Create a secret; fails if NAME exists in the environment.")
    static let mode = Operations.WriteMode.create
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Secret name.") var name: String
    @OptionGroup var valueOptions: ValueOptions
}

struct UpdateCommand: WriteCommand {
    static let configuration = CommandConfiguration(
        commandName: "update", abstract: "Replace an existing secret's value (re-encrypted, one commit).")
    static let mode = Operations.WriteMode.update
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Secret name.") var name: String
    @OptionGroup var valueOptions: ValueOptions
}

struct SetCommand: WriteCommand {
    static let configuration = CommandConfiguration(
        commandName: "set", abstract: "Create or update a secret.")
    static let mode = Operations.WriteMode.set
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Secret name.") var name: String
    @OptionGroup var valueOptions: ValueOptions
}

struct DeleteCommand: AgentCommand {
    static let configuration = CommandConfiguration(commandName: "delete", abstract: "Delete a secret (one commit).")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Secret name.") var name: String

    func execute() throws {
        try global.operations().delete(name: name, environment: global.environment)
        if global.json {
            try Console.json(["deleted": name, "environment": global.environment])
        } else {
            Console.out("deleted \(name) (\(global.environment))")
        }
    }
}

extension FlatMapFile.Format: ExpressibleByArgument {}

struct ImportCommand: AgentCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Create or update every KEY=value of a .env (or JSON/YAML) file, in one commit.",
        discussion: """
            A malformed line fails with its line number and nothing is written. Use - for stdin. \
            The .env dialect is the one the dotenv peers agree on (README "Import dialect"): a BOM \
            is dropped, LF/CRLF/CR all end lines, a key set twice keeps its last value (with a \
            warning), a file without assignments imports nothing. Values are literal unless \
            --expand is given.
            """)
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The file (.env, .json, .yaml/.yml), or - for stdin.") var file: String
    @Option(help: ArgumentHelp("dotenv, json or yaml (default: by the file's extension, else dotenv).", valueName: "format"))
    var format: FlatMapFile.Format?
    @Flag(help: "Expand $VAR, ${VAR}, ${VAR:-default} in unquoted and double-quoted values (earlier keys, then the environment).")
    var expand = false
    @Flag(name: .customLong("allow-empty"), help: "Import empty values (refused otherwise: usually an unset variable).")
    var allowsEmpty = false
    @Flag(name: .customLong("allow-exec-env-var"),
          help: "Allow keys that change what a process runs or loads (PATH, LD_*, NODE_OPTIONS, …); members only.")
    var allowsExecutionEnvVars = false

    func validate() throws {
        if expand && (format ?? FlatMapFile.format(ofPath: file)) != .dotenv {
            throw ValidationError("--expand applies to .env files only")
        }
    }

    func execute() throws {
        var bytes = try file == "-" ? FileIO.readAll(fd: 0) : FileIO.read(file)
        defer { Crypto.wipe(&bytes) }
        let lookup: @Sendable (String) -> String? = { FileIO.environment($0) }
        let options = Operations.ImportOptions(format: format ?? FlatMapFile.format(ofPath: file), expansion: expand ? lookup : nil,
                                               allowsExecutionEnvVars: allowsExecutionEnvVars, allowsEmpty: allowsEmpty)
        let result = try global.operations().importFile(bytes, environment: global.environment, options: options)
        if global.json {
            try Console.json(result)
        } else {
            for warning in result.warnings { Console.err("warning: \(warning)") }
            Console.out("imported into \(result.environment): \(result.created.count) created, \(result.updated.count) updated, \(result.unchanged.count) unchanged")
            if result.sealed { Console.err(Self.writeOnlyNote(result.environment)) }
        }
    }
}

enum MetadataPrinter {
    static func print(_ metadata: SecretMetadata, json: Bool) {
        if json {
            try? Console.json(metadata)
        } else {
            Console.table(["NAME", "ENV_VAR", "ENV", "VALUE", "CREATED", "UPDATED", "WRITTEN BY"],
                          [[metadata.name, metadata.envVar, metadata.environment, metadata.maskedValue, metadata.createdAt,
                            metadata.updatedAt, writer(metadata)]])
        }
    }

    /// The text listings' mark of a value written without membership.
    static func writer(_ metadata: SecretMetadata) -> String { metadata.writeOnly ? "write-only" : "member" }
}
