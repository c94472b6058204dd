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

    /// Runs `body` so that the remote connections libgit2 opens on the calling thread meanwhile
    /// connect within this deadline and are shut down once it has passed: libgit2 then fails
    /// the operation instead of waiting for a peer that never answers (see
    /// `envagent_deadline_begin`). Only this thread's connections are affected: other
    /// operations keep their own deadlines.
    func limitingConnections<R>(_ body: () throws -> R) rethrows -> R {
        envagent_deadline_begin(Int64(max(remaining, 0) * 1e9))
        defer { envagent_deadline_end() }
        return try body()
    }
}
