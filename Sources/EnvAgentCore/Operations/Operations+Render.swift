/// Rendering: an environment's secrets decrypted into a `.env`, `sh`, JSON, YAML, k8s or
/// docker env file.
extension Operations {
    /// The rendered file for `names` (all when empty) of `environment` merged over its bases.
    /// `manifestName` is the `k8s` Secret's name (default: the environment's, when valid).
    public func render(names: [String], environment: String, format: RenderFormat, manifestName: String? = nil) throws -> SecretBytes {
        let (snapshot, key) = try readableSnapshot(environment)
        let manifestName = format == .k8s ? try Self.checkedManifestName(manifestName, environment: environment) : ""
        let layers = try layers(of: environment, in: snapshot)
        if layers.count > 1 {
            var keys = [environment: key]
            let lines = try layeredLines(names, environment: environment, layers: layers, in: snapshot, keys: &keys)
            return try Self.render(lines, format: format, manifestName: manifestName)
        }
        if names.isEmpty, let rendered = try renderWhileReading(environment, in: snapshot, with: key, format: format,
                                                                manifestName: manifestName) {
            return rendered
        }
        let lines = try Self.select(names, from: snapshot.secrets(environment), environment: environment)
        return try Self.render(lines, with: key, format: format, manifestName: manifestName)
    }

    /// The name of a rendered k8s Secret: `name`, else the environment's; an RFC 1123 subdomain.
    static func checkedManifestName(_ name: String?, environment: String) throws -> String {
        let chosen = name ?? environment
        guard DotEnv.isValidManifestName(chosen) else {
            throw AgentError.validation("name", "'\(chosen.prefix(80))' is not a Kubernetes object name (lowercase letters, digits, '-', '.'; at most 253)",
                                        type: "invalid_name", hint: name == nil ? "pass --name NAME" : nil)
        }
        return chosen
    }

    /// `lines` decrypted and rendered in `format`, in order: a block of lines at a time (on
    /// every core for a large environment).
    static func render(_ lines: [SecretLine], with key: EnvironmentKey, format: RenderFormat, manifestName: String = "") throws -> SecretBytes {
        var parts: [SecretBytes] = []
        try Parallel.forEachBlock(count: lines.count, { range in try renderBlock(lines[range], with: key, format: format) },
                                  consume: { parts.append($0) })
        return DotEnv.framed(parts, format: format, manifestName: manifestName)
    }

    /// One run of lines rendered: each value opened into a reused buffer and written straight
    /// into the output, so no value is copied on the way.
    private static func renderBlock(_ lines: some Collection<SecretLine>, with key: EnvironmentKey,
                                    format: RenderFormat) throws -> SecretBytes {
        var buffers = EnvironmentKey.OpeningBuffers()
        var out: [UInt8] = []
        out.reserveCapacity(lines.count * 128)
        do {
            var first = true
            for line in lines {
                try key.withOpened(line, using: &buffers) { value in
                    try DotEnv.append(name: line.name, envVar: line.envVarBytes, value: value, format: format, first: first, to: &out)
                }
                first = false
            }
        } catch {
            Crypto.wipe(&out)
            throw error
        }
        return SecretBytes(out)
    }

    /// FNV-1a of an env var: cheap enough for every line. A collision (even a crafted one) only
    /// sends the render down the whole-file path, which compares the env vars themselves.
    private static func fingerprint(_ bytes: ArraySlice<UInt8>) -> UInt64 {
        bytes.withUnsafeBufferPointer { buffer in
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for byte in buffer { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
            return hash
        }
    }

    /// Every secret of `environment`, rendered while its secrets file is still being read:
    /// inflating a large file takes about as long as opening its values, so other cores open
    /// the lines read so far meanwhile. nil when the file cannot be read that way (a packed
    /// object), is not in name order (a hand edit: the render order is the sorted one) or
    /// breaks a read rule (`SecretsFile.problems`), and the caller renders from the whole file
    /// (whose check names the line).
    private func renderWhileReading(_ environment: String, in snapshot: StoreSnapshot, with key: EnvironmentKey,
                                    format: RenderFormat, manifestName: String) throws -> SecretBytes? {
        guard let id = try snapshot.fileID(StoreFormat.secretsPath(environment)),
              let stream = try store.repository.openBlobStream(id) else { return nil }
        struct Block: Sendable {
            /// nil when a line breaks a read rule of its own (nothing of it is rendered).
            let rendered: Result<SecretBytes, any Error>?
            let first: String?, last: String?
            let sorted: Bool
            /// Hashes of the env vars, to find one on two lines without a String per line.
            let envVarHashes: [UInt64]
        }
        var blocks: [Block] = []
        let pieceSize = 64 * 1024
        let lineBytes = 180 // about, for values of a few dozen characters
        try Parallel.pipeline(expectedItems: stream.size / lineBytes, produce: { emit in
            var carry: [UInt8] = [] // the start of a line whose end is not read yet
            while true {
                var bytes = carry
                let start = bytes.count
                bytes.append(contentsOf: repeatElement(0, count: pieceSize))
                let count = try bytes.withUnsafeMutableBytes { try stream.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[start...])) }
                bytes.removeLast(pieceSize - count)
                guard count > 0 else {
                    if !bytes.isEmpty { try emit(bytes) } // a last line without a newline
                    return
                }
                let end = (bytes.lastIndex(of: UInt8(ascii: "\n")) ?? -1) + 1
                carry = Array(bytes[end...])
                bytes.removeLast(bytes.count - end)
                if !bytes.isEmpty { try emit(bytes) }
            }
        }, transform: { bytes in
            let lines = SecretsFile.lines(in: bytes)
            let sound = lines.allSatisfy(SecretsFile.isSound)
            return Block(rendered: sound ? Result { try Self.renderBlock(lines, with: key, format: format) } : nil,
                         first: lines.first?.name, last: lines.last?.name, sorted: SecretsFile.isSorted(lines),
                         envVarHashes: lines.map { Self.fingerprint($0.envVarBytes) })
        }, consume: { blocks.append($0) })
        var previous: String?
        var envVars = Set<UInt64>(minimumCapacity: stream.size / lineBytes)
        for block in blocks {
            if let first = block.first, let last = previous, !SecretsFile.precedes(last, first) { return nil }
            guard block.sorted, block.rendered != nil else { return nil }
            // An env var on two lines (or a hash collision): the whole-file path decides.
            for hash in block.envVarHashes where !envVars.insert(hash).inserted { return nil }
            previous = block.last ?? previous
        }
        return DotEnv.framed(try blocks.map { try $0.rendered!.get() }, format: format, manifestName: manifestName)
    }
}
