/// Group commit: many writes of one environment as one commit, each with its own result.
///
/// The HTTP API queues concurrent creates and updates and hands them here in arrival order. The
/// valid ones are written together by `write(_:mode:environment:)` — the same code path as
/// `create`/`update` and `import` — in ONE commit whose message names every secret it changed
/// (`update A, B, C (dev)`). When that batch fails as a whole (one name missing for an update,
/// one already taken for a create, a duplicate env var …) nothing was written, and the requests
/// are written one by one instead, so each gets exactly the result it would have had alone.
extension Operations {
    public func writeBatch(_ requests: [WriteRequest], mode: WriteMode,
                           environment: String) -> [Result<WriteResult, AgentError>] {
        var results = [Result<WriteResult, AgentError>?](repeating: nil, count: requests.count)
        // Input errors are per request: settle them before the batch so one bad request cannot
        // send the others down the one-by-one path.
        var batch: [Int] = []
        var later: [Int] = []   // a name already in the batch: written after it, in order
        var names: Set<String> = []
        for (index, request) in requests.enumerated() {
            do {
                try Validation.environment(environment)
                try WritePlan.checkInput(request)
                if names.insert(request.name).inserted { batch.append(index) } else { later.append(index) }
            } catch {
                results[index] = .failure(AgentError.wrapping(error))
            }
        }
        if batch.count == 1 {
            results[batch[0]] = single(requests[batch[0]], mode: mode, environment: environment)
        } else if batch.count > 1 {
            let verb = mode == .create ? "create" : "update"
            do {
                let outcome = try write(batch.map { requests[$0] }, mode: mode, environment: environment,
                                        message: .group(verb: verb))
                for (index, item) in zip(batch, outcome.lines) {
                    results[index] = .success(WriteResult(
                        metadata: SecretMetadata(line: item.line, environment: environment,
                                                 maskedValue: Masking.mask(requests[index].value)),
                        changed: item.changed, sealed: outcome.sealed))
                }
            } catch {
                for index in batch {
                    results[index] = single(requests[index], mode: mode, environment: environment)
                }
            }
        }
        for index in later {
            results[index] = single(requests[index], mode: mode, environment: environment)
        }
        return results.map { $0! }
    }

    private func single(_ request: WriteRequest, mode: WriteMode, environment: String) -> Result<WriteResult, AgentError> {
        do {
            switch mode {
            case .create: return .success(try create(request, environment: environment))
            case .update: return .success(try update(request, environment: environment))
            case .set: return .success(try set(request, environment: environment))
            }
        } catch {
            return .failure(AgentError.wrapping(error))
        }
    }
}
