/// A sync merge stopped by conflicts, kept in the git folder (`envagent-merge`, never
/// committed) until `agent resolve` has a decision for every conflicting secret. Holds names
/// and decisions only, never a value.
struct MergeState: Equatable {
    struct Entry: Equatable {
        var environment: String
        var name: String
        var decision: EnvironmentMerge.Decision?
    }

    var remote: String
    var theirs: ObjectID
    var conflicts: [Entry]

    static func path(in repository: GitRepository) -> String { repository.gitDirectory + "envagent-merge" }

    var decisions: [String: [String: EnvironmentMerge.Decision]] {
        var result: [String: [String: EnvironmentMerge.Decision]] = [:]
        for entry in conflicts { if let decision = entry.decision { result[entry.environment, default: [:]][entry.name] = decision } }
        return result
    }

    var isResolved: Bool { conflicts.allSatisfy { $0.decision != nil } }

    static func load(in repository: GitRepository) throws -> MergeState? {
        guard FileIO.exists(path(in: repository)) else { return nil }
        var remote: String?, theirs: ObjectID?, conflicts: [Entry] = []
        for line in String(decoding: try FileIO.read(path(in: repository)), as: UTF8.self).split(separator: "\n") {
            let fields = line.split(separator: " ").map(String.init)
            switch (fields.first, fields.count) {
            case ("remote", 2): remote = fields[1]
            case ("theirs", 2): theirs = ObjectID(hex: fields[1])
            case ("conflict", 3), ("conflict", 4):
                conflicts.append(Entry(environment: fields[1], name: fields[2],
                                       decision: fields.count == 4 ? EnvironmentMerge.Decision(rawValue: fields[3]) : nil))
            default: continue
            }
        }
        guard let remote, let theirs else { throw AgentError.internal("\(path(in: repository)) is damaged; delete it and run `agent sync` again") }
        return MergeState(remote: remote, theirs: theirs, conflicts: conflicts)
    }

    func save(in repository: GitRepository) throws {
        var text = "remote \(remote)\ntheirs \(theirs.hex)\n"
        for entry in conflicts {
            text += "conflict \(entry.environment) \(entry.name)\(entry.decision.map { " \($0.rawValue)" } ?? "")\n"
        }
        try FileIO.writeAtomically(Self.path(in: repository), bytes: Array(text.utf8), mode: 0o600)
    }

    static func remove(in repository: GitRepository) {
        FileIO.remove(path(in: repository))
    }
}
