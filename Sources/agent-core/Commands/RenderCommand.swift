import ArgumentParser
import EnvAgentCore

extension RenderFormat: ExpressibleByArgument {}

struct RenderCommand: AgentCommand {
    static let configuration = CommandConfiguration(
        commandName: "render",
        abstract: "Print the decrypted .env for the named secrets (all when none are named).",
        discussion: """
            An environment with a base (`agent base`) renders the base's secrets under its own. \
            Formats: env, sh, json, yaml (a flat map), k8s (a Secret manifest, named by --name), \
            docker (--env-file lines; a value with a newline or CR is refused). \
            With -o the file is written atomically with mode 0600. With --targets, every target of \
            .envagent/targets is written (atomically, with its mode) unless it already holds exactly \
            that content; a target your identity cannot read is skipped, and so is one that needs this \
            machine's approval (an output outside the work tree, a mode wider than 0600, an on-change \
            command) until `agent allow`. Outputs inside .git or .envagent always fail.
            """)
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Secret names.") var names: [String] = []
    @Option(help: "env, sh, json, yaml, k8s or docker.") var format: RenderFormat = .env
    @Option(help: ArgumentHelp("The k8s Secret's metadata.name (default: the environment).", valueName: "name"))
    var name: String?
    @Option(name: [.short, .long], help: ArgumentHelp("Write to this file instead of stdout.", valueName: "file"))
    var output: String?
    @Flag(help: "Render every target of .envagent/targets once.") var targets = false

    func validate() throws {
        if targets && (!names.isEmpty || output != nil) {
            throw ValidationError("--targets renders what .envagent/targets says; name no secrets and no -o with it")
        }
        if name != nil && format != .k8s {
            throw ValidationError("--name names the Secret of --format k8s")
        }
    }

    func execute() throws {
        if targets { return try renderTargets() }
        let rendered = try global.operations().render(names: names, environment: global.environment,
                                                      format: global.json ? .json : format, manifestName: name)
        if let output {
            try FileIO.writeAtomically(output, secret: rendered, mode: 0o600)
        } else {
            Console.out(rendered)
        }
    }

    private func renderTargets() throws {
        let results = try global.operations().renderAllTargets()
        if global.json {
            try Console.json(results)
        } else {
            for result in results {
                let detail = switch result.outcome {
                case .written, .unchanged: "\(result.secrets) secret\(result.secrets == 1 ? "" : "s")"
                case .skipped, .failed: result.message ?? ""
                }
                Console.out("\(result.outcome.rawValue.padding(to: 9)) \(result.output)  (target \(result.target), \(result.environment)): \(detail)")
            }
        }
        let waiting = results.filter { $0.needsApproval != nil }
        // When every target was skipped, the error below says it.
        if !waiting.isEmpty && !global.json && !results.allSatisfy({ $0.outcome == .skipped }) {
            Console.err("warning: \(waiting.count) target\(waiting.count == 1 ? "" : "s") not rendered until this machine approves them: review .envagent/targets, then run `agent allow`")
        }
        if let failure = results.first(where: { $0.outcome == .failed })?.error {
            throw failure
        }
        if !results.isEmpty, results.allSatisfy({ $0.outcome == .skipped }), let reason = results.first?.error {
            throw reason
        }
    }
}
