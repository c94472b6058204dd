import CAgentShims
#if canImport(Glibc)
import Glibc
#endif

/// When a remote operation must be over: an instant on the monotonic clock, and the timeout it
/// was made from (for messages). One deadline covers every call of one operation (a sync's
/// fetches, pushes and lock waits), and belongs to that operation only.
public struct Deadline: Sendable {
    /// The timeout this deadline was made from.
    public let seconds: Int
    private let instant: Double

    /// `seconds` from now.
    public init(seconds: Int) {
        self.seconds = seconds
        instant = Self.now() + Double(seconds)
    }

    /// Seconds left (negative once passed).
    public var remaining: Double { instant - Self.now() }
    public var hasPassed: Bool { remaining <= 0 }

    /// Seconds on the monotonic clock.
    public static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Runs `body` so that, once the deadline has passed, the blocking system calls it makes on
    /// the calling thread (connect, recv, poll) fail with EINTR, and libgit2 fails the
    /// operation instead of waiting for a peer that never answers. Only this thread is
    /// signalled: other threads, and other operations with their own deadlines, are not.
    func interruptingBlockingCalls<R>(_ body: () throws -> R) rethrows -> R {
        let timer = envagent_deadline_arm(Int64(max(remaining, 0) * 1e9))
        defer { envagent_deadline_disarm(timer) }
        return try body()
    }
}
