import Synchronization

/// A value that only one thread at a time may touch: the git repository handles of the core
/// (`Operations` → `Store` → `GitRepository`, which owns libgit2 pointers) live in one of these
/// and are used only inside `withLock`, never shared or marked Sendable.
final class Confined<Value>: Sendable {
    private let mutex: Mutex<Value>

    init(_ value: consuming sending Value) {
        mutex = Mutex(value)
    }

    func withLock<R: Sendable>(_ body: (inout sending Value) throws -> R) rethrows -> R {
        try mutex.withLock { try body(&$0) }
    }

    /// nil when another thread holds the lock.
    func withLockIfAvailable<R: Sendable>(_ body: (inout sending Value) throws -> R) rethrows -> R? {
        try mutex.withLockIfAvailable { try body(&$0) }
    }
}
