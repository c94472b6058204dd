import EnvAgentCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// The server's single writer: every create, update and delete goes through it, on its own
/// thread with its own repository handle.
///
/// Group commit: while one commit is being written, new requests queue up; the writer then
/// takes them all and writes each run of same-environment, same-kind writes as ONE commit
/// (`Operations.writeBatch`, which names every changed secret in the message and falls back to
/// one commit per request when the batch as a whole fails). A request is answered only after the
/// commit holding its change has moved the branch. On graceful shutdown (SIGTERM/SIGINT) the
/// HTTP server stops first and waits for its requests; the writer finishes what is queued, then
/// stops — no half-written commit (a commit is published by one compare-and-swap of the ref).
final class GroupCommitWriter: Service, Sendable {
    enum Job: Sendable {
        case write(environment: String, mode: Operations.WriteMode, request: Operations.WriteRequest,
                   reply: CheckedContinuation<Result<WriteResult, AgentError>, Never>)
        case delete(environment: String, name: String, reply: CheckedContinuation<Result<Void, AgentError>, Never>)

        func fail(_ error: AgentError) {
            switch self {
            case .write(_, _, _, let reply): reply.resume(returning: .failure(error))
            case .delete(_, _, let reply): reply.resume(returning: .failure(error))
            }
        }
    }

    private struct Queue {
        var jobs: [Job] = []
        /// Jobs taken by the writer and not answered yet.
        var inFlight = 0
        var waiter: CheckedContinuation<Void, Never>?
        var closed = false
    }

    private let operations: Confined<Operations>
    private let queue = Mutex(Queue())
    private let thread = NIOThreadPool(numberOfThreads: 1)
    /// Commits attempted and requests they carried (for the log and tests).
    private let counters = Mutex<(batches: Int, requests: Int)>((0, 0))

    init(operations: consuming sending Operations) {
        self.operations = Confined(operations)
    }

    // MARK: Requests

    func write(_ request: Operations.WriteRequest, mode: Operations.WriteMode,
               environment: String) async -> Result<WriteResult, AgentError> {
        await withCheckedContinuation { reply in
            enqueue(.write(environment: environment, mode: mode, request: request, reply: reply))
        }
    }

    func delete(name: String, environment: String) async -> Result<Void, AgentError> {
        await withCheckedContinuation { reply in
            enqueue(.delete(environment: environment, name: name, reply: reply))
        }
    }

    /// Requests waiting for the writer or being written (tests use it to line up a batch).
    var outstanding: (queued: Int, writing: Int) { queue.withLock { ($0.jobs.count, $0.inFlight) } }

    var batchCounters: (batches: Int, requests: Int) { counters.withLock { $0 } }

    private func enqueue(_ job: Job) {
        let (accepted, waiter) = queue.withLock { queue -> (Bool, CheckedContinuation<Void, Never>?) in
            guard !queue.closed else { return (false, nil) }
            queue.jobs.append(job)
            defer { queue.waiter = nil }
            return (true, queue.waiter)
        }
        if !accepted { job.fail(AgentError(.internalError, "the server is shutting down")) }
        waiter?.resume()
    }

    /// Everything queued, waiting for at least one job; nil once closed and drained.
    private func next() async -> [Job]? {
        while true {
            let taken = queue.withLock { queue -> [Job]? in
                if !queue.jobs.isEmpty {
                    defer { queue.inFlight += queue.jobs.count; queue.jobs = [] }
                    return queue.jobs
                }
                return queue.closed ? [] : nil
            }
            if let taken { return taken.isEmpty ? nil : taken }
            await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
                let ready = queue.withLock { queue -> Bool in
                    if !queue.jobs.isEmpty || queue.closed { return true }
                    queue.waiter = waiter
                    return false
                }
                if ready { waiter.resume() }
            }
        }
    }

    private func close() {
        let waiter = queue.withLock { queue -> CheckedContinuation<Void, Never>? in
            queue.closed = true
            defer { queue.waiter = nil }
            return queue.waiter
        }
        waiter?.resume()
    }

    // MARK: The writer loop

    func run() async throws {
        thread.start()
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                while let jobs = await next() {
                    await process(jobs)
                    queue.withLock { $0.inFlight -= jobs.count }
                }
            } onGracefulShutdown: { [self] in
                close()
            }
        } onCancel: { [self] in
            close()
        }
        // Anything enqueued after the last drain (a race with close) is answered, not dropped.
        for job in queue.withLock({ queue in defer { queue.jobs = [] }; return queue.jobs }) {
            job.fail(AgentError(.internalError, "the server is shutting down"))
        }
        try? await thread.shutdownGracefully()
    }

    /// Splits `jobs` (in arrival order) into runs that can share a commit and writes each.
    private func process(_ jobs: [Job]) async {
        var index = 0
        while index < jobs.count {
            switch jobs[index] {
            case .delete(let environment, let name, let reply):
                let result = await onWriterThread { operations -> Result<Void, AgentError> in
                    do {
                        try operations.delete(name: name, environment: environment)
                        return .success(())
                    } catch {
                        return .failure(AgentError.wrapping(error))
                    }
                }
                count(batch: 1)
                reply.resume(returning: result.flatMap { $0 })
                index += 1
            case .write(let environment, let mode, _, _):
                var run: [(request: Operations.WriteRequest, reply: CheckedContinuation<Result<WriteResult, AgentError>, Never>)] = []
                var names: Set<String> = []
                while index < jobs.count, case .write(environment, mode, let request, let reply) = jobs[index],
                      names.insert(request.name).inserted {
                    run.append((request, reply))
                    index += 1
                }
                let requests = run.map(\.request)
                let results = await onWriterThread { operations in
                    operations.writeBatch(requests, mode: mode, environment: environment)
                }
                count(batch: run.count)
                switch results {
                case .success(let results):
                    for (item, result) in zip(run, results) { item.reply.resume(returning: result) }
                case .failure(let error):
                    for item in run { item.reply.resume(returning: .failure(error)) }
                }
            }
        }
    }

    private func count(batch size: Int) {
        counters.withLock { $0.batches += 1; $0.requests += size }
    }

    private func onWriterThread<R: Sendable>(_ body: @escaping @Sendable (Operations) -> R) async -> Result<R, AgentError> {
        do {
            return .success(try await thread.runIfActive { [operations] in
                operations.withLock { body($0) }
            })
        } catch {
            return .failure(AgentError(.internalError, "the writer thread is not running"))
        }
    }
}
