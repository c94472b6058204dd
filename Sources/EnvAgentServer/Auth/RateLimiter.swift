import Synchronization

/// A token bucket per API token: `rate` requests a second on average, bursts of `burst`.
final class RateLimiter: Sendable {
    struct Bucket { var level: Double; var last: ContinuousClock.Instant }

    let rate: Double
    let burst: Double
    private let buckets = Mutex<[String: Bucket]>([:])

    init(rate: Double, burst: Double) {
        self.rate = rate
        self.burst = max(1, burst)
    }

    /// Takes one request from `key`'s bucket: nil when allowed, else the whole seconds to wait
    /// before the next request will be (for `Retry-After`).
    func take(_ key: String, now: ContinuousClock.Instant = .now) -> Int? {
        buckets.withLock { buckets in
            var bucket = buckets[key] ?? Bucket(level: burst, last: now)
            let elapsed = now - bucket.last
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            bucket.level = min(burst, bucket.level + seconds * rate)
            bucket.last = now
            defer { buckets[key] = bucket }
            if bucket.level >= 1 {
                bucket.level -= 1
                return nil
            }
            return max(1, Int(((1 - bucket.level) / rate).rounded(.up)))
        }
    }
}
