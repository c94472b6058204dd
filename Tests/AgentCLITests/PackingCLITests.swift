import Foundation
import Testing

/// libgit2 has no gc: after commits the CLI leaves packing to a detached `agent gc --auto`.
@Suite struct PackingCLITests {
    func looseObjects(_ box: Sandbox) throws -> Int {
        let counts = try box.git("count-objects", "-v").stdout
        return Int(counts.split(separator: "\n").first { $0.hasPrefix("count:") }!.split(separator: " ").last!)!
    }

    @Test func writesPackInTheBackgroundAndGCPacksTheRest() throws {
        let box = try Sandbox()
        #expect(try box.agent("init").status == 0)
        // Each update returns without waiting for a pack (the run helper would hang if the
        // background packer held the command's pipes open).
        for index in 0..<60 {
            #expect(try box.agent("set", "K\(index % 7)", stdin: "value-\(index)-background").status == 0)
        }
        // The background packers finish on their own: loose objects do not pile up.
        let deadline = Date().addingTimeInterval(20)
        while try looseObjects(box) > 200 && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        let packs = try FileManager.default.contentsOfDirectory(atPath: box.repo + "/.git/objects/pack").filter { $0.hasSuffix(".pack") }
        #expect(!packs.isEmpty, "no background pack was written")
        #expect(try looseObjects(box) < 200)

        // `agent gc` packs what is left (waiting for a running packer); `--auto` with nothing due is silent.
        let gc = try box.agent("gc")
        #expect(gc.status == 0 && ["packed\n", "nothing to pack\n"].contains(gc.stdout), "\(gc.stdout)\(gc.stderr)")
        #expect(try looseObjects(box) == 0)
        let auto = try box.agent("gc", "--auto")
        #expect(auto.status == 0 && auto.stdout.isEmpty)
        let fsck = try box.git("fsck", "--strict", "--no-dangling")
        #expect(fsck.status == 0, "\(fsck.stderr)")
        #expect(try box.agent("render", "K3").stdout == "K3='value-59-background'\n")
    }
}
