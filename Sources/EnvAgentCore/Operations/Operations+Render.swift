/// Rendering: an environment's secrets decrypted into a `.env`, `sh` or JSON file.
extension Operations {
    /// The rendered file (`.env`, `sh` or JSON) for `names` (all when empty).
    public func render(names: [String], environment: String, format: RenderFormat) throws -> SecretBytes {
        let (snapshot, key) = try readableSnapshot(environment)
        let lines = try Self.select(names, from: snapshot.secrets(environment), environment: environment)
        return try Self.render(lines, with: key, format: format)
    }

    /// `lines` decrypted and rendered in `format`, in order: a block of lines at a time (on
    /// every core for a large environment).
    static func render(_ lines: [SecretLine], with key: EnvironmentKey, format: RenderFormat) throws -> SecretBytes {
        var parts: [SecretBytes] = []
        try Parallel.forEachBlock(count: lines.count, { range in try renderBlock(lines[range], with: key, format: format) },
                                  consume: { parts.append($0) })
        return DotEnv.framed(parts, format: format)
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
}
