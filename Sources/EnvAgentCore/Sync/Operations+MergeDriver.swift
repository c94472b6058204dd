/// The same key-level merge for git CLI users: `agent merge-driver %O %A %B %P`, wired through
/// `.gitattributes` (`merge=envagent`) and the repository config.
extension Operations {
    /// The `.gitattributes` lines `agent init` adds.
    public static let gitAttributes = """
        \(StoreFormat.folder)/*/secrets merge=envagent diff=envagent
        \(StoreFormat.folder)/*/recipients merge=envagent

        """

    /// Registers the merge driver (and the diff driver, `setupDiffDriver`) in the repository
    /// config; `executable` is this agent binary.
    public func setupMergeDriver(executable: String) throws {
        try store.repository.setConfig("merge.envagent.name", "EnvAgent key-level merge of the secrets store")
        try store.repository.setConfig("merge.envagent.driver", "'\(executable)' merge-driver %O %A %B %P")
        try setupDiffDriver(executable: executable)
    }

    /// Merges one store file for git: base at `basePath`, ours at `oursPath` (the result is
    /// written there), theirs at `theirsPath`; `path` is the file's path in the repository. The
    /// other file of the environment comes from HEAD, MERGE_HEAD and their merge base. Returns
    /// the conflicting names (empty on success). A merge that needs a new key (a rotation on
    /// both sides) cannot be done one file at a time and fails, pointing to `agent sync`.
    public func mergeDriver(basePath: String, oursPath: String, theirsPath: String, path: String) throws -> [String] {
        guard StoreFormat.isMergedByKey(path), path != StoreFormat.headerPath else {
            throw AgentError(.invalidRequest, "\(path) is not a file the EnvAgent merge driver merges")
        }
        let environment = String(path.split(separator: "/")[1])
        let isSecrets = path.hasSuffix("/secrets")
        let repository = store.repository
        let head = try store.snapshot()
        let mergeHead = repository.mergeHead()
        func snapshot(_ id: ObjectID?) throws -> StoreSnapshot {
            guard let id else { return head }
            return StoreSnapshot(reference: head.reference, commit: id, tree: try repository.commit(id).tree())
        }
        let theirsSnapshot = try snapshot(mergeHead)
        let baseID = try mergeHead.flatMap { theirs in try head.commit.flatMap { try repository.mergeBase($0, theirs) } }
        let baseSnapshot = try snapshot(baseID)
        try checkIncoming(theirsSnapshot, against: head, base: baseSnapshot) // never re-wrap or re-seal under an unvouched key
        func files(_ bytes: [UInt8], _ snapshot: StoreSnapshot) throws -> EnvironmentMerge.Files {
            isSecrets
                ? .init(recipients: try snapshot.file(StoreFormat.recipientsPath(environment)), secrets: bytes)
                : .init(recipients: bytes, secrets: try snapshot.file(StoreFormat.secretsPath(environment)))
        }
        let ours = try files(FileIO.read(oursPath), head)
        let theirs = try files(FileIO.read(theirsPath), theirsSnapshot)
        let storeID = try head.requireHeader().storeID
        var merge = EnvironmentMerge(environment: environment, storeID: storeID, identity: try identitySource.load(),
                                     base: try files(FileIO.read(basePath), baseSnapshot), ours: ours, theirs: theirs)
        switch try merge.merge() {
        case .conflicts(let conflicts):
            return conflicts.map { "\(environment)/\($0.name)" }
        case .merged(let result):
            func publicKey(_ bytes: [UInt8]?) -> [UInt8]? {
                bytes.flatMap { try? RecipientsFile.parse($0, environment: environment).publicKey }
            }
            let key = publicKey(result.recipients)
            guard key == publicKey(ours.recipients) || key == publicKey(theirs.recipients) else {
                throw AgentError(.mergeConflict, "environment '\(environment)' changed its key on both sides; git merges one file at a time and cannot re-encrypt it",
                                 hint: "abort (`git merge --abort`) and run `agent sync`, which merges the environment as a whole")
            }
            let output = (isSecrets ? result.secrets : result.recipients) ?? []
            try FileIO.writeAtomically(oursPath, bytes: output, mode: 0o644)
            return []
        }
    }
}
