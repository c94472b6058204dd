import Foundation

/// Waits for an event a process reports (a file written, a log line, a connection, an exit),
/// checking `condition` every 50 ms; false when it has not happened within `limit` seconds. The
/// limit only ends a failing test, so it is generous: a busy machine makes a test slower, not
/// red. A test whose point is a time bound passes its own `limit`.
public func eventually(limit seconds: Double = 60, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return true }
        Thread.sleep(forTimeInterval: 0.05)
    }
    return try condition()
}

/// `eventually` for async tests: sleeps between checks without holding a thread (an in-process
/// server shares the cooperative pool).
public func waitUntil(limit seconds: Double = 60, _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + .seconds(seconds)
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return try await condition()
}
