import EnvAgentCore
#if canImport(Glibc)
import Glibc
#endif
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Output through file descriptors (Swift 6 forbids the glibc `stdout` globals).
enum Console {
    static func write(_ bytes: UnsafeRawBufferPointer, fd: Int32) {
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 { if errno == EINTR { continue } else { return } }
            offset += n
        }
    }

    static func out(_ text: String) {
        var text = text + "\n"
        text.withUTF8 { write(UnsafeRawBufferPointer($0), fd: 1) }
    }

    static func err(_ text: String) {
        var text = text + "\n"
        text.withUTF8 { write(UnsafeRawBufferPointer($0), fd: 2) }
    }

    static func out(_ secret: SecretBytes) {
        secret.withUnsafeBytes { write($0, fd: 1) }
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
