/// Rendering: an environment's secrets decrypted into a `.env`, `sh`, JSON, YAML, k8s or
/// docker env file.
extension Operations {
    /// The rendered file for `names` (all when empty) of `environment` merged over its bases.
    /// `manifestName` is the `k8s` Secret's name (default: the environment's, when valid).
    /// `readable`, when given, is every environment the caller may read (an API token limited
    /// to some): a base outside it is `forbidden`, since anyone who can push can name a base.
    public func render(names: [String], environment: String, format: RenderFormat, manifestName: String? = nil,
                       readable: Set<String>? = nil) throws -> SecretBytes {
        let (snapshot, key) = try readableSnapshot(environment)
        let manifestName = format == .k8s ? try Self.checkedManifestName(manifestName, environment: environment) : ""
        let layers = try layers(of: environment, in: snapshot)
        if let readable, let outside = layers.first(where: { !readable.contains($0) }) {
            throw Self.baseNotReadable(outside, of: environment)
        }
        if layers.count > 1 {
            var keys = [environment: key]
            let lines = try layeredLines(names, environment: environment, layers: layers, in: snapshot, keys: &keys)
            return try Self.render(lines, format: format, manifestName: manifestName)
        }
        let lines = try Self.select(names, from: snapshot.secrets(environment), environment: environment)
        return try Self.render(lines, with: key, format: format, manifestName: manifestName)
    }

    static func baseNotReadable(_ base: String, of environment: String) -> AgentError {
        AgentError(.forbidden, "environment '\(environment)' builds on '\(base)', which this caller may not read",
                   details: [.init(loc: [StoreFormat.basePath(environment)], msg: "base outside the allowed environments",
                                   type: "environment_forbidden")],
                   hint: "allow '\(base)' too (a token for every layer), or remove the base with `agent base --unset --env \(environment)`")
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
}
