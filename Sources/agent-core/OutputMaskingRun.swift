import ArgumentParser
import EnvAgentCore
#if canImport(Glibc)
import Glibc
#endif

/// `agent run` with masked output: the command's standard output and/or error go through pipes
/// to the agent, which passes them on with every value masked (`StreamMasker`), then ends the
/// way the command ended (exit code or signal). Signals sent to the agent (not the terminal's,
/// which reach the command directly) are forwarded.
enum OutputMaskingRun {
    /// Runs `command` with the descriptors `masked` (1, 2) piped through maskers and never
    /// returns; returns at once when no value is long enough to be masked.
    static func run(_ command: [String], values: [SecretBytes], masked descriptors: [Int32]) throws {
        guard StreamMasker(values: values).isActive else { return }
        var streams: [(read: Int32, target: Int32, masker: StreamMasker)] = []
        var writeEnds: [Int32: Int32] = [:]
        for target in descriptors {
            let masker = StreamMasker(values: values)
            var ends: [Int32] = [0, 0]
            guard pipe(&ends) == 0 else { throw AgentError(.internalError, "cannot create a pipe: \(FileIO.errnoMessage())") }
            for fd in ends { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
            streams.append((ends[0], target, masker))
            writeEnds[target] = ends[1]
        }
        let signals = ChildProcess.blockHandledSignals()
        let child: ChildProcess
        switch ChildProcess.spawn(command, stdout: writeEnds[1], stderr: writeEnds[2]) {
        case .success(let started): child = started
        case .failure(let error):
            Console.err("agent: error: cannot run \(command[0]): \(FileIO.errnoMessage(error.rawValue))")
            throw ExitCode(error.rawValue == ENOENT ? 127 : 126)
        }
        for fd in writeEnds.values { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        defer { Crypto.wipe(&buffer) }
        while !streams.isEmpty {
            var fds = streams.map { pollfd(fd: $0.read, events: Int16(POLLIN), revents: 0) }
            let ready = Glibc.poll(&fds, nfds_t(fds.count), 100)
            while let (signal, fromTerminal) = ChildProcess.nextSignal(signals, timeout: 0) {
                child.forward(signal, fromTerminal: fromTerminal)
            }
            guard ready > 0 else { continue }
            var ended: [Int] = []
            for (index, fd) in fds.enumerated() where fd.revents != 0 {
                let stream = streams[index]
                let n = FileIO.read(fd: stream.read, into: &buffer)
                if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
                if n > 0 {
                    StandardStreams.write(stream.masker.feed(buffer[0..<n]), to: stream.target)
                } else {
                    StandardStreams.write(stream.masker.finish(), to: stream.target)
                    close(stream.read)
                    ended.append(index)
                }
            }
            for index in ended.reversed() { streams.remove(at: index) }
        }
        let status = child.wait(signals) { child.forward($0, fromTerminal: $1) }
        ChildProcess.exit(like: status)
    }
}
