/// The store as it is in one commit (HEAD when it was read). Reads files lazily from the tree.
public final class StoreSnapshot {
    public let reference: String
    public let commit: ObjectID?
    let tree: GitTree?
    private var cachedHeader: StoreHeader??

    init(reference: String, commit: ObjectID?, tree: GitTree?) {
        self.reference = reference
        self.commit = commit
        self.tree = tree
    }

    public func file(_ path: String) throws -> [UInt8]? {
        try tree?.blob(at: path)
    }

    /// The blob id of the file at `path`, nil when there is none.
    func fileID(_ path: String) throws -> ObjectID? {
        try tree?.fileID(at: path)
    }

    /// The header, nil when this commit has no store. A newer format throws `upgrade_required`.
    public func header() throws -> StoreHeader? {
        if let cachedHeader { return cachedHeader }
        let header = try file(StoreFormat.headerPath).map(StoreHeader.parse)
        cachedHeader = .some(header)
        return header
    }

    public func requireHeader() throws -> StoreHeader {
        guard let header = try header() else {
            throw AgentError(.notFound, "no EnvAgent store in this repository (\(StoreFormat.headerPath) is missing at \(reference))",
                             hint: "run `agent init` to create one")
        }
        return header
    }

    public func environments() throws -> [String] {
        try tree?.subtreeNames(at: StoreFormat.folder).sorted() ?? []
    }

    /// The environment's recipients file; empty (no key, no recipient) when it does not exist.
    public func recipientsFile(_ environment: String) throws -> RecipientsFile {
        guard let bytes = try file(StoreFormat.recipientsPath(environment)) else {
            return RecipientsFile(publicKey: nil, recipients: [])
        }
        return try RecipientsFile.parse(bytes, environment: environment)
    }

    public func recipients(_ environment: String) throws -> [Recipient] {
        try recipientsFile(environment).recipients
    }

    /// The environment's secrets; `internal_error` naming each line that breaks the read rules
    /// (see `SecretsFile.problems`).
    public func secrets(_ environment: String) throws -> SecretsFile {
        try uncheckedSecrets(environment).checked(environment: environment)
    }

    /// The secrets file as it is, broken lines included: for `verify` (which lists them),
    /// `delete` (which removes one) and comparisons of lines.
    public func uncheckedSecrets(_ environment: String) throws -> SecretsFile {
        SecretsFile.parse(try file(StoreFormat.secretsPath(environment)) ?? [])
    }
}
