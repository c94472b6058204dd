@testable import EnvAgentCore
import Foundation
import Synchronization
import Testing

@Suite struct ParallelTests {
    struct Failure: Error, Equatable { let item: Int }

    @Test func keepsOrderAndUsesEveryCoreForLargeBatches() throws {
        let items = Array(0..<(Parallel.minimumChunk * 5 + 7))
        let threads = Mutex<Set<UInt>>([])
        let doubled = try Parallel.map(items) { item -> Int in
            threads.withLock { _ = $0.insert(UInt(pthread_self())) }
            return item * 2
        }
        #expect(doubled == items.map { $0 * 2 })
        let cores = ProcessInfo.processInfo.activeProcessorCount
        #expect(threads.withLock { $0.count } == min(cores, 5))
    }

    @Test func smallBatchesStayOnTheCallingThread() throws {
        let caller = pthread_self()
        let sameThread = try Parallel.map(Array(0..<(Parallel.minimumChunk + 1))) { _ in pthread_equal(pthread_self(), caller) != 0 }
        #expect(sameThread.allSatisfy { $0 })
    }

    @Test func throwsTheFirstFailureInItemOrder() {
        let items = Array(0..<(Parallel.minimumChunk * 4))
        let failing: Set = [Parallel.minimumChunk + 3, Parallel.minimumChunk * 3 + 1]
        #expect(throws: Failure(item: Parallel.minimumChunk + 3)) {
            _ = try Parallel.map(items) { item -> Int in
                if failing.contains(item) { throw Failure(item: item) }
                return item
            }
        }
    }
}
