@testable import EnvAgentCore
import Foundation
import Synchronization
import Testing

@Suite struct ParallelTests {
    struct Failure: Error, Equatable { let item: Int }

    @Test func keepsOrderAndSharesLargeBatchesWithAWorker() throws {
        let items = Array(0..<(Parallel.minimumChunk * 5 + 7))
        let multicore = ProcessInfo.processInfo.activeProcessorCount > 1
        let caller = pthread_self()
        let workerRan = Mutex(false)
        let doubled = try Parallel.map(items) { item -> Int in
            if pthread_equal(pthread_self(), caller) == 0 {
                workerRan.withLock { $0 = true }
            } else if item == 0 && multicore {
                // The caller waits in its first item until a worker has taken a block: the
                // blocks are shared, so a worker that starts late still gets work.
                let deadline = Date().addingTimeInterval(10)
                while !workerRan.withLock({ $0 }) && Date() < deadline { usleep(100) }
            }
            return item * 2
        }
        #expect(doubled == items.map { $0 * 2 })
        #expect(workerRan.withLock { $0 } == multicore)
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

    /// Blocks reach `consume` in order, on the calling thread, each as soon as it and those
    /// before it are done; a failing block stops the run after the blocks before it.
    @Test func blocksAreConsumedInOrderUpToTheFirstFailure() throws {
        let count = Parallel.minimumChunk * 4 + 5
        let caller = pthread_self()
        var consumed: [Range<Int>] = []
        try Parallel.forEachBlock(count: count, { $0 }, consume: { range in
            #expect(pthread_equal(pthread_self(), caller) != 0)
            consumed.append(range)
        })
        #expect(consumed.first?.lowerBound == 0)
        #expect(consumed.last?.upperBound == count)
        #expect(zip(consumed, consumed.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })

        let failing = Parallel.blockSize * 9 + 3
        var reached = 0
        #expect(throws: Failure(item: failing)) {
            try Parallel.forEachBlock(count: count, { range in
                if range.contains(failing) { throw Failure(item: failing) }
                return range
            }, consume: { reached = $0.upperBound })
        }
        #expect(reached == Parallel.blockSize * 9)
    }
}
