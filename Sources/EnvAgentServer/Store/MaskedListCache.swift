import NIOCore
import Synchronization

/// The encoded masked listing of each environment, valid for one commit of the store branch.
///
/// It holds what `GET …/secrets` answers — names, env vars, timestamps and masked strings, never
/// a plaintext value — keyed by the commit HEAD pointed to when it was computed. Every request
/// reads HEAD first (one ref lookup), so a commit by anyone — this server, the CLI, a sync, the
/// git CLI — makes the entry stale at once.
final class MaskedListCache: Sendable {
    private let entries = Mutex<[String: (head: String, body: ByteBuffer)]>([:])

    func body(environment: String, head: String) -> ByteBuffer? {
        entries.withLock { entries in
            guard let entry = entries[environment], entry.head == head else { return nil }
            return entry.body
        }
    }

    func store(_ body: ByteBuffer, environment: String, head: String) {
        entries.withLock { $0[environment] = (head, body) }
    }
}
