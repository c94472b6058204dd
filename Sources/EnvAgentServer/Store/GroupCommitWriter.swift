import EnvAgentCore
import Logging
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
        /// Set by the idle timer: nothing arrived for `idleBeforePacking`.
        var idleSignal = false
    }

    private enum Wake { case jobs([Job]), idle, closed }

    /// Packing (libgit2 has no gc; see `GitRepository+Pack`) is mostly delta compression of the
    /// secrets files. It never runs on the writer thread: a packer thread with its own
    /// repository handle writes the packs while commits go on (only deleting what a new pack
    /// replaces takes the store's write lock, for microseconds). It starts when the writer has
    /// been idle for `idleBeforePacking`, and under sustained load every
    /// `packEveryCommitsUnderLoad` commits, which bounds the loose objects a burst leaves.
    static let idleBeforePacking = Duration.milliseconds(250)
    static let packEveryCommitsUnderLoad = 512

    /// How long a writer that woke up for fewer requests than its last batch waits for the
    /// rest of the clients (their previous answers are on the way): bigger batches, fewer commits.
    static let lingerLimit = Duration.milliseconds(2)
    static let lingerStep = Duration.microseconds(200)

    private let operations: Confined<Operations>
    /// A second handle on the same repository, used only by the packer thread.
    private let packer: Confined<Operations>
    private let packerThread = NIOThreadPool(numberOfThreads: 1)
    private let packing = Mutex(false)
    private let logger: Logger
    private let queue = Mutex(Queue())
    private let thread = NIOThreadPool(numberOfThreads: 1)
    /// Commits attempted and requests they carried (for the log and tests).
    private let counters = Mutex<(batches: Int, requests: Int)>((0, 0))

    init(operations: consuming sending Operations, packer: consuming sending Operations, logger: Logger) {
        operations.store.packing = .manual
        self.operations = Confined(operations)
        self.packer = Confined(packer)
        self.logger = logger
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
        logger.debug("write queued", metadata: ["accepted": .stringConvertible(accepted)])
    }

    /// Waits for requests and takes everything queued (counted in flight); `.idle` when
    /// `idleAfter` passes with nothing queued; `.closed` once closed and drained.
    private func next(idleAfter: Duration?) async -> Wake {
        queue.withLock { $0.idleSignal = false }
        let timer = idleAfter.map { delay in
            Task { [self] in
                try? await Task.sleep(for: delay)
                guard !Task.isCancelled else { return }
                let waiter = queue.withLock { queue -> CheckedContinuation<Void, Never>? in
                    queue.idleSignal = true
                    defer { queue.waiter = nil }
                    return queue.waiter
                }
                waiter?.resume()
            }
        }
        defer { timer?.cancel() }
        while true {
            let wake = queue.withLock { queue -> Wake? in
                if !queue.jobs.isEmpty {
                    defer { queue.inFlight += queue.jobs.count; queue.jobs = [] }
                    return .jobs(queue.jobs)
                }
                if queue.closed { return .closed }
                if queue.idleSignal { return .idle }
                return nil
            }
            if let wake { return wake }
            await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
                let ready = queue.withLock { queue -> Bool in
                    if !queue.jobs.isEmpty || queue.closed || queue.idleSignal { return true }
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
        packerThread.start()
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                var lastBatch = 0
                var commitsSincePack = 0
                loop: while true {
                    switch await next(idleAfter: commitsSincePack > 0 ? Self.idleBeforePacking : nil) {
                    case .closed:
                        break loop
                    case .idle:
                        startPacking(idle: true)
                        commitsSincePack = 0
                    case .jobs(var jobs):
                        jobs += await linger(have: jobs.count, expect: lastBatch)
                        lastBatch = jobs.count
                        commitsSincePack += await process(jobs)
                        queue.withLock { $0.inFlight -= jobs.count }
                        if commitsSincePack >= Self.packEveryCommitsUnderLoad {
                            startPacking(idle: false)
                            commitsSincePack = 0
                        }
                    }
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
        try? await packerThread.shutdownGracefully() // a pack in progress completes
    }

    /// Waits up to `lingerLimit` for more requests while fewer than `expect` are at hand;
    /// returns the ones that came (already counted in flight).
    private func linger(have: Int, expect: Int) async -> [Job] {
        guard have < expect else { return [] }
        var more: [Job] = []
        let deadline = ContinuousClock.now + Self.lingerLimit
        while have + more.count < expect, ContinuousClock.now < deadline {
            try? await Task.sleep(for: Self.lingerStep)
            more += queue.withLock { queue in
                defer { queue.inFlight += queue.jobs.count; queue.jobs = [] }
                return queue.jobs
            }
        }
        return more
    }

    /// Starts a pack on the packer thread unless one is running (see `packEveryCommitsUnderLoad`).
    private func startPacking(idle: Bool) {
        guard packing.withLock({ busy in defer { busy = true }; return !busy }) else { return }
        let start = ContinuousClock.now
        packerThread.submit { [self] state in
            defer { packing.withLock { $0 = false } }
            guard case .active = state else { return }
            do {
                if try packer.withLock({ try $0.store.pack(.whenDue) }) { // one packer per repository, CLI gc included
                    logger.info("packed loose objects", metadata: ["ms": .string(FrontMiddleware.milliseconds(ContinuousClock.now - start)),
                                                                   "idle": .stringConvertible(idle)])
                }
            } catch {
                logger.error("packing failed", metadata: ["error": .string(AgentError.wrapping(error).message)])
            }
        }
    }

    /// Splits `jobs` (in arrival order) into runs that can share a commit and writes each;
    /// returns the number of commits attempted.
    private func process(_ jobs: [Job]) async -> Int {
        var commits = 0
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
                commits += 1
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
                let start = ContinuousClock.now
                let results = await onWriterThread { operations in
                    operations.writeBatch(requests, mode: mode, environment: environment)
                }
                count(batch: run.count)
                commits += 1
                logger.debug("group commit", metadata: ["requests": .stringConvertible(run.count),
                                                        "ms": .string(FrontMiddleware.milliseconds(ContinuousClock.now - start))])
                switch results {
                case .success(let results):
                    for (item, result) in zip(run, results) { item.reply.resume(returning: result) }
                case .failure(let error):
                    for item in run { item.reply.resume(returning: .failure(error)) }
                }
            }
        }
        return commits
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
