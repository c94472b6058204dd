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

    /// Blocks produced over time are transformed while production goes on (by a worker when
    /// there are several cores) and consumed in order; a failing block's error is thrown, and
    /// so is the producer's.
    @Test func pipelineTransformsBlocksWhileTheyAreProduced() throws {
        let multicore = ProcessInfo.processInfo.activeProcessorCount > 1
        let caller = pthread_self()
        let transformedDuringProduction = Mutex(0)
        let producing = Mutex(true)
        var consumed: [Int] = []
        try Parallel.pipeline(expectedItems: Parallel.minimumChunk * 4, produce: { emit in
            for block in 0..<40 {
                try emit(block)
                // Give a worker time to take blocks before production ends.
                if block == 10 && multicore {
                    let deadline = Date().addingTimeInterval(10)
                    while transformedDuringProduction.withLock({ $0 }) == 0 && Date() < deadline { usleep(100) }
                }
            }
            producing.withLock { $0 = false }
        }, transform: { block in
            if pthread_equal(pthread_self(), caller) == 0, producing.withLock({ $0 }) {
                transformedDuringProduction.withLock { $0 += 1 }
            }
            return block * 3
        }, consume: { consumed.append($0) })
        #expect(consumed == (0..<40).map { $0 * 3 })
        #expect((transformedDuringProduction.withLock { $0 } > 0) == multicore)

        #expect(throws: Failure(item: 7)) {
            try Parallel.pipeline(expectedItems: Parallel.minimumChunk * 4, produce: { emit in for block in 0..<20 { try emit(block) } },
                                  transform: { block -> Int in
                                      if block == 7 || block == 15 { throw Failure(item: block) }
                                      return block
                                  }, consume: { _ in })
        }
        #expect(throws: Failure(item: -1)) {
            try Parallel.pipeline(expectedItems: Parallel.minimumChunk * 4, produce: { emit in
                try emit(1)
                throw Failure(item: -1)
            }, transform: { $0 }, consume: { _ in })
        }
    }
}
