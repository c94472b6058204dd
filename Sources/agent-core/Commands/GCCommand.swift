import ArgumentParser
import EnvAgentCore

struct GCCommand: AgentCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc",
        abstract: "Pack loose git objects and keep the packs geometric (what runs in the background after writes).",
        discussion: """
            libgit2 has no gc. After a commit, once loose objects have piled up, agent starts \
            `agent gc --auto` in the background; it packs beside any writers, one packer at a time.
            """)
    @OptionGroup var global: GlobalOptions
    @Flag(name: .long, help: "Only when enough loose objects have piled up; return at once if another gc is running.")
    var auto = false

    func execute() throws {
        let store = try Store.open(path: global.store)
        let packed = try store.pack(auto ? .whenDue : .full)
        if global.json {
            try Console.json(["packed": packed])
        } else if !auto {
            Console.out(packed ? "packed" : "nothing to pack")
        }
    }
}
