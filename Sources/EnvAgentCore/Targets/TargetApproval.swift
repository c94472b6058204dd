/// Why a render target needs this machine's approval before it takes effect. `.envagent/targets`
/// is committed, so anyone who can push writes it; only a private file inside the work tree
/// (which a push controls anyway) is rendered on the file's word alone.
enum TargetConsentReason: Sendable, Equatable, CustomStringConvertible {
    /// The output resolves outside the work tree (absolute, through a symlinked folder, or any
    /// output of a bare repository): the resolved path.
    case writesOutsideWorkTree(String)
    /// Permission bits beyond 0600: others could read the secrets, or the file could run.
    case mode(UInt32)
    /// A shell command `agent watch` runs as this machine's user.
    case runsOnChange(String)

    var description: String {
        switch self {
        case .writesOutsideWorkTree(let path): "writes outside the work tree: \(path)"
        case .mode(let mode): "mode \(Self.octal(mode))"
        case .runsOnChange(let command): "runs on-change: \(command)"
        }
    }

    /// What `target`, written at `location`, asks of this machine beyond a private file in the work tree.
    static func reasons(for target: RenderTargets.Target, at location: TargetLocation,
                        in surroundings: TargetSurroundings) -> [TargetConsentReason] {
        var reasons: [TargetConsentReason] = []
        if !surroundings.isInsideWorkTree(location) { reasons.append(.writesOutsideWorkTree(location.path)) }
        if target.mode & ~0o600 != 0 { reasons.append(.mode(target.mode)) }
        if let command = target.onChange { reasons.append(.runsOnChange(command)) }
        return reasons
    }

    static func octal(_ mode: UInt32) -> String {
        let digits = String(mode, radix: 8)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}

/// This machine's approvals of render targets files (`agent allow`), the `direnv allow` model:
/// one digest per git folder (a work tree's, or a bare repository), kept in the common git
/// folder, which no push can write, as `envagent-allowed` (mode 0600, lines `DIGEST GITDIR`).
/// An approval covers one exact content: any other byte is not approved until allowed again.
struct TargetApproval {
    static let fileName = "envagent-allowed"
    /// What to do about a target waiting for approval.
    static let fix = "review \(RenderTargets.path), then run agent allow"

    let recordPath: String
    /// The git folder the approval belongs to: linked work trees check out their own targets.
    let key: String

    init(repository: GitRepository) {
        recordPath = repository.commonDirectory + Self.fileName
        key = repository.gitDirectory
    }

    /// What an approval records: BLAKE2b-256 of the file's bytes and of what its targets ask of
    /// this machine, so that a pushed symlink moving an approved output elsewhere voids it too.
    static func digest(of bytes: [UInt8], asking requests: [(target: String, reasons: [TargetConsentReason])]) throws -> String {
        var input = Array("envagent targets approval v1\n".utf8) + (try Crypto.hash(bytes, length: 32))
        for request in requests where !request.reasons.isEmpty {
            for reason in request.reasons { input += Array("\n\(request.target)\t\(reason)".utf8) }
        }
        return hex(try Crypto.hash(input, length: 32))
    }

    /// The digest approved for this git folder, if any.
    func approvedDigest() throws -> String? {
        try records().first { $0.key == key }?.digest
    }

    func approve(_ digest: String) throws {
        try write(records().filter { $0.key != key } + [(digest, key)])
    }

    /// Removes this git folder's approval; false when there was none.
    func revoke() throws -> Bool {
        let all = try records()
        let kept = all.filter { $0.key != key }
        guard kept.count != all.count else { return false }
        if kept.isEmpty {
            FileIO.remove(recordPath)
        } else {
            try write(kept)
        }
        return true
    }

    private func records() throws -> [(digest: String, key: String)] {
        guard FileIO.exists(recordPath) else { return [] }
        let lines = String(decoding: try FileIO.read(recordPath), as: UTF8.self).split(separator: "\n")
        return lines.compactMap { (line: Substring) -> (digest: String, key: String)? in
            guard let space = line.firstIndex(of: " ") else { return nil }
            return (String(line[..<space]), String(line[line.index(after: space)...]))
        }
    }

    private func write(_ records: [(digest: String, key: String)]) throws {
        let text = records.map { "\($0.digest) \($0.key)\n" }.joined()
        try FileIO.writeAtomically(recordPath, bytes: Array(text.utf8), mode: 0o600)
    }

    private static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef")
        return String(bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 0xF)]] })
    }
}
