#if canImport(Glibc)
import Glibc
#endif

/// `agent watch`: a long-running loop that syncs every interval and keeps the configured render
/// targets current, running each target's on-change command after its file was rewritten (only
/// for a targets file this machine approved, see `TargetApproval`).
extension Operations {
    public enum WatchEvent: Sendable {
        case synced(SyncResult)
        case rendered([TargetResult])
        case onChange(target: String, command: String, status: Int32)
        case failed(AgentError, retryInSeconds: Int)
        case reloaded
        case stopping(signal: Int32)
    }

    /// Runs until SIGTERM or SIGINT, which are honoured between cycles (a sync in progress
    /// finishes first). SIGHUP re-reads the targets file (and its approval) and renders every
    /// target again. A failing remote or a bad commit never removes a rendered file (targets
    /// are only ever replaced atomically by a complete rendering); the loop logs the error and
    /// retries with exponential backoff up to ten times the interval.
    public func watch(interval: Int, remote: String, options: TransferOptions, pullOnly: Bool,
                      events: (WatchEvent) -> Void) throws {
        var signals = sigset_t()
        sigemptyset(&signals)
        for signal in [SIGTERM, SIGINT, SIGHUP] { sigaddset(&signals, signal) }
        // Blocked, so they wait for `sigtimedwait` between cycles instead of killing a sync.
        pthread_sigmask(SIG_BLOCK, &signals, nil)
        var failures = 0
        var forceRender = true
        while true {
            do {
                let result = try sync(remote: remote, options: options, pullOnly: pullOnly)
                events(.synced(result))
                failures = 0
                let rendered = forceRender ? try renderAllTargetsIfConfigured() : try refreshTargetsIfStoreChanged()
                forceRender = false
                if let rendered, !rendered.isEmpty {
                    events(.rendered(rendered))
                    // A target with an on-change command is written only once this machine
                    // approved the targets file, so an unapproved command never gets here.
                    for target in rendered where target.outcome == .written {
                        if let command = target.onChange {
                            events(.onChange(target: target.target, command: command, status: Self.runShell(command)))
                        }
                    }
                }
            } catch let error as AgentError {
                failures += 1
                let delay = min(interval * (1 << min(failures - 1, 4)), interval * 10)
                events(.failed(error, retryInSeconds: delay))
                if let signal = Self.wait(seconds: delay, for: signals) {
                    if signal == SIGHUP { forceRender = true; events(.reloaded); continue }
                    events(.stopping(signal: signal))
                    return
                }
                continue
            }
            if let signal = Self.wait(seconds: interval, for: signals) {
                if signal == SIGHUP { forceRender = true; events(.reloaded); continue }
                events(.stopping(signal: signal))
                return
            }
        }
    }

    /// Every target when a targets file exists (nil otherwise).
    private func renderAllTargetsIfConfigured() throws -> [TargetResult]? {
        guard try renderTargets() != nil else { return nil }
        return try renderAllTargets()
    }

    /// Sleeps up to `seconds`; returns the signal of `set` that arrived meanwhile, if any.
    static func wait(seconds: Int, for set: sigset_t) -> Int32? {
        var set = set
        var remaining = timespec(tv_sec: seconds, tv_nsec: 0)
        var info = siginfo_t()
        while true {
            let started = Deadline.now()
            let signal = sigtimedwait(&set, &info, &remaining)
            if signal > 0 { return signal }
            guard errno == EINTR else { return nil } // EAGAIN: the time is up
            let left = Double(remaining.tv_sec) - (Deadline.now() - started)
            if left <= 0 { return nil }
            remaining = timespec(tv_sec: Int(left), tv_nsec: Int((left - Double(Int(left))) * 1e9))
        }
    }

    /// Runs `command` with `/bin/sh -c` and waits; the child gets default signal handling and an
    /// empty signal mask. Returns its exit status (127 when it could not start).
    static func runShell(_ command: String) -> Int32 {
        guard case .success(let child) = ChildProcess.spawn(["/bin/sh", "-c", command]) else { return 127 }
        return ChildProcess.exitCode(child.waitForExit())
    }
}
