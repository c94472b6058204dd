/// Writing a secrets file while its new values are still being sealed. Hashing and compressing
/// the blob (one core's work, 25 ms for 10,000 secrets) then overlaps the sealing (spread over
/// the other cores) instead of following it.
extension SecretsFile {
    /// A line to write with a freshly sealed value.
    struct PendingLine: Sendable {
        let name: String
        let envVar: String
        let createdAt: String
        let updatedAt: String
        let value: SecretBytes
        /// The length of the line this becomes: known before sealing, because a sealed value's
        /// length follows from the plaintext's, so the blob's size can be declared up front.
        let length: Int

        init(name: String, envVar: String, createdAt: String, updatedAt: String, value: SecretBytes, sealedValueLength: Int) {
            self.name = name
            self.envVar = envVar
            self.createdAt = createdAt
            self.updatedAt = updatedAt
            self.value = value
            length = SecretLine.length(name: name, envVar: envVar, createdAt: createdAt, updatedAt: updatedAt,
                                       sealedValueLength: sealedValueLength)
        }

        func line(sealedValue: String) throws -> SecretLine {
            let line = SecretLine(name: name, envVar: envVar, createdAt: createdAt, updatedAt: updatedAt, sealedValue: sealedValue)
            guard line.raw.count == length else {
                throw AgentError.internal("the sealed line of '\(name)' has \(line.raw.count) bytes instead of \(length)")
            }
            return line
        }
    }

    /// This file with `pending` written in (replacing the lines of the same names), as contents
    /// produced while their blob is written: `seal` (which returns a VALUE field) runs on every
    /// core and the lines reach the blob in name order. `progress` gets the number of sealed
    /// lines after each block; `done` the new lines, in the order of `pending`, once all are
    /// written. `pending` must not name a secret twice.
    func streamed(with pending: [PendingLine], seal: @escaping @Sendable (_ value: SecretBytes, _ name: String, _ envVar: String) throws -> String,
                  progress: ((Int) -> Void)? = nil, done: @escaping ([SecretLine]) -> Void) -> StreamedFile {
        let order = pending.indices.sorted { Self.precedes(pending[$0].name, pending[$1].name) }
        // The lines no pending one replaces (both lists are sorted: one merge pass).
        var kept: [SecretLine] = []
        kept.reserveCapacity(lines.count)
        var next = 0
        for line in lines {
            while next < order.count, Self.precedes(pending[order[next]].name, line.name) { next += 1 }
            if next == order.count || pending[order[next]].name != line.name { kept.append(line) }
        }
        let size = kept.reduce(0) { $0 + $1.raw.count + 1 } + pending.reduce(0) { $0 + $1.length + 1 }
        return StreamedFile(size: size) { emit in
            let newline = UInt8(ascii: "\n")
            var chunk: [UInt8] = []
            var nextKept = 0
            func appendKept(before name: String?) {
                while nextKept < kept.count, name.map({ Self.precedes(kept[nextKept].name, $0) }) ?? true {
                    chunk += kept[nextKept].raw
                    chunk.append(newline)
                    nextKept += 1
                }
            }
            var written = [SecretLine?](repeating: nil, count: pending.count)
            var count = 0
            try Parallel.forEachBlock(order, { index in try pending[index].line(sealedValue: seal(pending[index].value, pending[index].name, pending[index].envVar)) }) { block in
                for line in block {
                    appendKept(before: line.name)
                    chunk += line.raw
                    chunk.append(newline)
                    written[order[count]] = line
                    count += 1
                }
                try emit(chunk.span)
                chunk.removeAll(keepingCapacity: true)
                progress?(count)
            }
            appendKept(before: nil)
            try emit(chunk.span)
            done(written.map { $0! })
        }
    }
}
