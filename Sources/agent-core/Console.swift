import EnvAgentCore
#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials // Linux only (Package.swift): the smaller Foundation suffices

/// What commands print: lines, secrets, JSON, errors, tables (through `StandardStreams`).
enum Console {
    static func out(_ text: String) {
        StandardStreams.write(text + "\n", to: StandardStreams.output)
    }

    static func err(_ text: String) {
        StandardStreams.write(text + "\n", to: StandardStreams.error)
    }

    static func out(_ secret: SecretBytes) {
        StandardStreams.write(secret, to: StandardStreams.output)
    }

    static func json<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(value) else { throw AgentError(.internalError, "cannot encode output") }
        out(String(decoding: data, as: UTF8.self))
    }

    /// An error as `agent: error: …` with its hint, or (with --json) the envelope, on stderr.
    static func report(_ error: AgentError, json: Bool) {
        if json {
            err(error.envelopeJSON())
        } else {
            err("agent: error: \(error.message)")
            if let hint = error.hint { err("hint: \(hint)") }
        }
    }

    /// A plain-text table with left-aligned columns.
    static func table(_ header: [String], _ rows: [[String]]) {
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        for row in all {
            var line = ""
            for (column, cell) in row.enumerated() {
                line += column == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[column] - cell.count + 2)
            }
            out(line)
        }
    }
}
