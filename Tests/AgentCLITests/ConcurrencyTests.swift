import Foundation
import Testing

@Suite struct ConcurrencyTests {
    /// 4 processes × 50 updates racing on one repository: every update lands as its own commit.
    @Test func concurrentWritersLoseNothing() throws {
        let box = try Sandbox()
        #expect(try box.agent("init").status == 0)
        for worker in 0..<4 { #expect(try box.agent("set", "W\(worker)", stdin: "start").status == 0) }
        #expect(try box.agent("set", "SHARED", stdin: "start").status == 0)
        let script = """
            i=0
            while [ $i -lt 50 ]; do
              if [ $((i % 2)) -eq 0 ]; then name=W$1; else name=SHARED; fi
              printf 'w%s-%s' "$1" "$i" | "$AGENT" update "$name" >/dev/null || exit 1
              i=$((i + 1))
            done
            """
        let start = try box.git("rev-list", "--count", "HEAD").stdout
        let group = DispatchGroup()
        nonisolated(unsafe) var statuses = [Int32](repeating: -1, count: 4)
        let lock = NSLock()
        for worker in 0..<4 {
            DispatchQueue.global().async(group: group) {
                let result = try? box.exec("/bin/sh", ["-c", script, "sh", String(worker)], stdin: nil,
                                           env: ["AGENT": agentBinary], cwd: box.repo)
                lock.lock(); statuses[worker] = result?.status ?? -2; lock.unlock()
            }
        }
        group.wait()
        #expect(statuses == [0, 0, 0, 0])
        let end = try box.git("rev-list", "--count", "HEAD").stdout
        #expect(Int(end.trimmingCharacters(in: .whitespacesAndNewlines))! - Int(start.trimmingCharacters(in: .whitespacesAndNewlines))! == 200)
        for worker in 0..<4 {
            #expect(try box.agent("get", "W\(worker)", "--reveal").stdout == "w\(worker)-48\n")
        }
        let shared = try box.agent("get", "SHARED", "--reveal").stdout
        #expect(["w0-49\n", "w1-49\n", "w2-49\n", "w3-49\n"].contains(shared))
        #expect(try box.git("log", "--format=%s").stdout.components(separatedBy: "\n").filter { $0.hasPrefix("update") }.count == 200)
        #expect(try box.git("status", "--porcelain").stdout.isEmpty)
        #expect(try box.git("fsck", "--strict", "--no-dangling").status == 0)
    }

    /// A writer that loses the compare-and-swap to the git CLI rebuilds its change on the new HEAD.
    @Test func writerRaceWithGitCLIKeepsBothChanges() throws {
        let box = try Sandbox()
        #expect(try box.agent("init").status == 0)
        let script = """
            i=0
            while [ $i -lt 30 ]; do
              echo "line $i" >> notes.txt
              # git does not wait for a held index.lock (agent holds it across its branch move)
              tries=0
              until git add notes.txt 2>/dev/null && git commit -qm "note $i" 2>/dev/null; do
                tries=$((tries + 1)); [ $tries -lt 200 ] || exit 1; sleep 0.01
              done
              i=$((i + 1))
            done
            """
        let group = DispatchGroup()
        nonisolated(unsafe) var gitStatus: Int32 = -1
        DispatchQueue.global().async(group: group) {
            gitStatus = (try? box.exec("/bin/sh", ["-c", script], stdin: nil, env: [:], cwd: box.repo))?.status ?? -2
        }
        for index in 0..<30 {
            #expect(try box.agent("set", "K\(index)", stdin: "v\(index)").status == 0)
        }
        group.wait()
        let subjects = try box.git("log", "--format=%s").stdout.components(separatedBy: "\n")
        #expect(subjects.filter { $0.hasPrefix("create K") }.count == 30)
        let notes = subjects.filter { $0.hasPrefix("note ") }.count
        #expect(gitStatus == 0)
        #expect(notes == 30)
        #expect(try box.git("status", "--porcelain").stdout.isEmpty)
    }
}
