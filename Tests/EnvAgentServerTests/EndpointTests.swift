import EnvAgentCore
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import TestSupport
import Testing
@testable import EnvAgentServer

@Suite("HTTP API endpoints against a live server")
struct EndpointTests {
    let metadataKeys: Set<String> = ["name", "env_var", "environment", "masked_value", "created_at", "updated_at", "write_only"]

    @Test func everyEndpointRoundTrip() async throws {
        let fixture = try APIFixture()
        try fixture.seed([("OPENAI_KEY", "sk-proj-abcdefghijklmnopqr123")])
        let write = try fixture.token([.write, .reveal])
        let (server, _) = try fixture.server()
        let openapi = try String(contentsOfFile: repositoryRoot + "/openapi.yaml", encoding: .utf8)
        try await server.application.test(.live) { client in
            // No auth: health and the contract, served byte for byte from the repository's file.
            let health = try await client.send(.get, "/healthz")
            #expect(health.status == .ok && health.jsonObject?["status"] as? String == "ok")
            let spec = try await client.send(.get, "/openapi.yaml")
            #expect(spec.status == .ok && spec.headers[.contentType] == "application/yaml")
            #expect(spec.text == openapi)

            let environments = try await client.send(.get, "/v1/environments", token: write)
            #expect(environments.status == .ok)
            #expect(environments.jsonArray?.first?["name"] as? String == "dev")
            #expect(environments.jsonArray?.first?["secret_count"] as? Int == 1)

            // The seed operation: PATCH answers metadata only, masked like sk-pro••••789.
            let newValue = "sk-proj-zyxwvutsrqponmlkji789"
            let patched = try await client.send(.patch, "/v1/environments/dev/secrets/OPENAI_KEY", token: write,
                                                json: #"{"value":"\#(newValue)"}"#)
            #expect(patched.status == .ok, "\(patched.text)")
            #expect(Set(patched.jsonObject?.keys.map { $0 } ?? []) == metadataKeys)
            #expect(patched.jsonObject?["masked_value"] as? String == "sk-pro••••789")
            #expect(patched.jsonObject?["environment"] as? String == "dev")
            #expect(!patched.text.contains(newValue))
            #expect(try fixture.value("OPENAI_KEY") == newValue)   // re-encrypted and committed

            let created = try await client.send(.post, "/v1/environments/dev/secrets", token: write,
                                                json: #"{"name":"db.url","env_var":"DATABASE_URL","value":"postgres://u:p@db/app"}"#)
            #expect(created.status == .created, "\(created.text)")
            #expect(created.headers[.location] == "/v1/environments/dev/secrets/db.url")
            #expect(created.jsonObject?["env_var"] as? String == "DATABASE_URL")
            #expect(!created.text.contains("postgres://"))

            let one = try await client.send(.get, "/v1/environments/dev/secrets/db.url", token: write)
            #expect(one.status == .ok && one.jsonObject?["masked_value"] as? String == "postg••••pp")

            let list = try await client.send(.get, "/v1/environments/dev/secrets", token: write)
            #expect(list.jsonArray?.map { $0["name"] as? String } == ["OPENAI_KEY", "db.url"])
            #expect(list.jsonArray?.allSatisfy { Set($0.keys) == metadataKeys } == true)
            #expect(list.jsonArray?.allSatisfy { $0["write_only"] as? Bool == false } == true)

            // The same renderer as `agent render`.
            let dotenv = try await client.send(.get, "/v1/environments/dev/dotenv?names=db.url,OPENAI_KEY", token: write)
            #expect(dotenv.status == .ok)
            #expect(dotenv.headers[.contentType] == "text/plain; charset=utf-8")
            let rendered = try fixture.operations.render(names: ["db.url", "OPENAI_KEY"], environment: "dev", format: .env).utf8String
            #expect(dotenv.text == rendered)
            #expect(dotenv.text == "DATABASE_URL='postgres://u:p@db/app'\nOPENAI_KEY='\(newValue)'\n")

            let deleted = try await client.send(.delete, "/v1/environments/dev/secrets/db.url", token: write)
            #expect(deleted.status == .noContent && deleted.body.readableBytes == 0)
            expectEnvelope(try await client.send(.get, "/v1/environments/dev/secrets/db.url", token: write), 404, "not_found",
                           loc: ["path", "name"])

            // Sync: without a remote a clear 404; with one, the same sync as `agent sync`.
            let noRemote = expectEnvelope(try await client.send(.post, "/v1/sync", token: write), 404, "not_found")
            #expect((noRemote["message"] as? String)?.contains("no remote 'origin'") == true)
            let remote = fixture.root + "/remote.git"
            #expect(try fixture.git("init", "-q", "--bare", remote).status == 0)
            #expect(try fixture.git("remote", "add", "origin", remote).status == 0)
            let synced = try await client.send(.post, "/v1/sync", token: write)
            #expect(synced.status == .ok, "\(synced.text)")
            #expect(synced.jsonObject?["action"] as? String == "pushed")
            let head = try fixture.git("rev-parse", "HEAD").stdout
            #expect(try fixture.git("--git-dir", remote, "rev-parse", "main").stdout == head)
            let limited = try fixture.token([.write], environments: ["dev"])
            expectEnvelope(try await client.send(.post, "/v1/sync", token: limited), 403, "forbidden")
            try FileManager.default.moveItem(atPath: remote, toPath: remote + ".away")
            expectEnvelope(try await client.send(.post, "/v1/sync", token: write), 502, "bad_gateway")
        }
        // Every change is one commit named like the CLI's.
        let log = try fixture.git("log", "--format=%s").stdout
        #expect(log.hasPrefix("delete db.url (dev)\ncreate db.url (dev)\nupdate OPENAI_KEY (dev)\n"))
    }

    @Test func scopesAndEnvironmentRestrictions() async throws {
        let fixture = try APIFixture()
        try fixture.seed([("A_KEY", "value-of-a-0001")])
        try fixture.seed([("P_KEY", "value-of-p-0001")], environment: "prod")
        let read = try fixture.token([.read])
        let write = try fixture.token([.write])
        let reveal = try fixture.token([.reveal])
        let devOnly = try fixture.token([.write, .reveal], environments: ["dev"])
        let (server, _) = try fixture.server()
        try await server.application.test(.live) { client in
            let patch = #"{"value":"another-value-1"}"#
            // read: masked metadata only.
            #expect(try await client.send(.get, "/v1/environments/dev/secrets", token: read).status == .ok)
            #expect(try await client.send(.get, "/v1/environments/dev/secrets/A_KEY", token: read).status == .ok)
            expectEnvelope(try await client.send(.patch, "/v1/environments/dev/secrets/A_KEY", token: read, json: patch),
                           403, "forbidden", detail: "insufficient_scope")
            expectEnvelope(try await client.send(.post, "/v1/environments/dev/secrets", token: read, json: #"{"name":"X","value":"y"}"#),
                           403, "forbidden")
            expectEnvelope(try await client.send(.delete, "/v1/environments/dev/secrets/A_KEY", token: read), 403, "forbidden")
            expectEnvelope(try await client.send(.get, "/v1/environments/dev/dotenv", token: read), 403, "forbidden")
            // write implies read, not reveal.
            #expect(try await client.send(.get, "/v1/environments/dev/secrets", token: write).status == .ok)
            #expect(try await client.send(.patch, "/v1/environments/dev/secrets/A_KEY", token: write, json: patch).status == .ok)
            expectEnvelope(try await client.send(.get, "/v1/environments/dev/dotenv", token: write), 403, "forbidden")
            // reveal is the dotenv endpoint only.
            #expect(try await client.send(.get, "/v1/environments/dev/dotenv", token: reveal).status == .ok)
            expectEnvelope(try await client.send(.get, "/v1/environments/dev/secrets", token: reveal), 403, "forbidden")
            expectEnvelope(try await client.send(.get, "/v1/environments", token: reveal), 403, "forbidden")
            // Environment restrictions hold on every route.
            let visible = try await client.send(.get, "/v1/environments", token: devOnly)
            #expect(visible.jsonArray?.map { $0["name"] as? String } == ["dev"])
            let all = try await client.send(.get, "/v1/environments", token: read)
            #expect(all.jsonArray?.map { $0["name"] as? String } == ["dev", "prod"])
            for (method, path, body) in [(HTTPRequest.Method.get, "/v1/environments/prod/secrets", nil),
                                         (.post, "/v1/environments/prod/secrets", #"{"name":"N","value":"v"}"#),
                                         (.get, "/v1/environments/prod/secrets/P_KEY", nil),
                                         (.patch, "/v1/environments/prod/secrets/P_KEY", patch),
                                         (.delete, "/v1/environments/prod/secrets/P_KEY", nil),
                                         (.get, "/v1/environments/prod/dotenv", nil),
                                         (.post, "/v1/environments/staging/secrets", #"{"name":"N","value":"v"}"#)] as [(HTTPRequest.Method, String, String?)] {
                expectEnvelope(try await client.send(method, path, token: devOnly, json: body), 403, "forbidden",
                               loc: ["path", "env"], detail: "environment_forbidden")
            }
            #expect(try await client.send(.patch, "/v1/environments/dev/secrets/A_KEY", token: devOnly, json: patch).status == .ok)

            // Anyone who can push can name a base: without prod's signed agreement nobody reads
            // through it; with it, a token limited to dev still reads nothing of prod, and a
            // token for every environment gets the layered file.
            try "base prod\n".write(toFile: fixture.repo + "/.envagent/dev/base", atomically: true, encoding: .utf8)
            #expect(try fixture.git("add", ".envagent/dev/base").status == 0)
            #expect(try fixture.git("commit", "-qm", "dev builds on prod").status == 0)
            let pushed = try await client.send(.get, "/v1/environments/dev/dotenv", token: reveal)
            expectEnvelope(pushed, 409, "untrusted_change", loc: [".envagent/dev/base"], detail: "base_not_agreed")
            #expect(!pushed.text.contains("value-of-p-0001"))
            try fixture.operations.setBase("prod", of: "dev")
            let leaked = try await client.send(.get, "/v1/environments/dev/dotenv", token: devOnly)
            expectEnvelope(leaked, 403, "forbidden", loc: [".envagent/dev/base"], detail: "environment_forbidden")
            #expect(!leaked.text.contains("value-of-p-0001") && leaked.text.contains("'prod'"), "\(leaked.text)")
            let layered = try await client.send(.get, "/v1/environments/dev/dotenv", token: reveal)
            #expect(layered.status == .ok && layered.text.contains("P_KEY='value-of-p-0001'"), "\(layered.text)")
        }
        #expect(try fixture.value("P_KEY", environment: "prod") == "value-of-p-0001")
    }

    /// An env var that changes what a process runs or loads needs `allow_exec_env_var`; a
    /// value written without membership is marked `write_only`.
    @Test func executionEnvVarsNeedConsentAndWriteOnlyValuesAreMarked() async throws {
        let fixture = try APIFixture()
        try fixture.seed([("A_KEY", "value-of-a-0001")])
        let write = try fixture.token([.write])
        let (server, _) = try fixture.server()
        try await server.application.test(.live) { client in
            let path = "/v1/environments/dev/secrets"
            let refused = expectEnvelope(try await client.send(.post, path, token: write, json: #"{"name":"TOOLS","env_var":"PATH","value":"/opt/bin"}"#),
                                         422, "validation_error", loc: ["body", "env_var"], detail: "restricted_env_var")
            #expect((refused["message"] as? String)?.contains("PATH") == true)
            expectEnvelope(try await client.send(.post, path, token: write, json: #"{"name":"TOOLS","env_var":"PATH","value":"/opt/bin","allow_exec_env_var":"yes"}"#),
                           422, "validation_error", loc: ["body", "allow_exec_env_var"], detail: "bool_type")
            let created = try await client.send(.post, path, token: write, json: #"{"name":"TOOLS","env_var":"PATH","value":"/opt/bin","allow_exec_env_var":true}"#)
            #expect(created.status == .created, "\(created.text)")
            #expect(created.jsonObject?["env_var"] as? String == "PATH" && created.jsonObject?["write_only"] as? Bool == false)
        }
        // A write-only value (sealed by someone without an identity) is marked in the listing.
        let stranger = Operations(store: try Store.open(path: fixture.repo), identitySource: IdentitySource(
            environmentText: nil, environmentFile: nil, flagFile: nil, defaultFile: fixture.root + "/nobody"))
        _ = try stranger.update(.init(name: "A_KEY", value: SecretBytes(Array("sealed-by-ci".utf8))), environment: "dev")
        let (again, _) = try fixture.server()
        try await again.application.test(.live) { client in
            let list = try await client.send(.get, "/v1/environments/dev/secrets", token: write)
            #expect(list.jsonArray?.map { $0["write_only"] as? Bool } == [true, false])
            let one = try await client.send(.get, "/v1/environments/dev/secrets/A_KEY", token: write)
            #expect(one.jsonObject?["write_only"] as? Bool == true)
        }
    }

    /// Changes made outside the server (the CLI, the git CLI) are seen by the next request:
    /// the masked-list cache is keyed by the branch's commit.
    @Test func cliUpdateIsVisibleAtOnce() async throws {
        let fixture = try APIFixture()
        try fixture.seed([("TOKEN", "first-value-abcdefgh-111")])
        let read = try fixture.token([.read])
        let (server, _) = try fixture.server()
        let agent = try agentBinaryPath()
        try await server.application.test(.live) { client in
            let before = try await client.send(.get, "/v1/environments/dev/secrets", token: read)
            #expect(before.jsonArray?.first?["masked_value"] as? String == "first-••••111")
            let again = try await client.send(.get, "/v1/environments/dev/secrets", token: read)
            #expect(again.text == before.text)   // served from the cache
            let update = try runProcess(agent, ["update", "TOKEN", "--store", fixture.repo], stdin: "second-value-zyxwvuts-222",
                                        environment: ["AGENT_IDENTITY_FILE": fixture.identitySource.environmentFile!])
            #expect(update.status == 0, "\(update.stderr)")
            let after = try await client.send(.get, "/v1/environments/dev/secrets", token: read)
            #expect(after.jsonArray?.first?["masked_value"] as? String == "second••••222")
            let one = try await client.send(.get, "/v1/environments/dev/secrets/TOKEN", token: read)
            #expect(one.jsonObject?["masked_value"] as? String == "second••••222")
        }
    }

    /// No value and no token appear in any response (but the dotenv one) or any log line.
    @Test func valuesAndTokensNeverLeak() async throws {
        let fixture = try APIFixture()
        let value = "sk-proj-LEAKCHECK-9f8e7d6c5b4a3210"
        let second = "sk-proj-LEAKCHECK-0123456789abcdef"
        let token = try fixture.token([.write, .reveal])
        let (server, logs) = try fixture.server()
        var bodies: [String] = []
        try await server.application.test(.live) { client in
            var seen: [String] = []
            for (method, path, body) in [
                (HTTPRequest.Method.post, "/v1/environments/dev/secrets", #"{"name":"LEAK","value":"\#(value)"}"#),
                (.post, "/v1/environments/dev/secrets", #"{"name":"LEAK","value":"\#(value)"}"#),        // 409
                (.patch, "/v1/environments/dev/secrets/LEAK", #"{"value":"\#(second)"}"#),
                (.patch, "/v1/environments/dev/secrets/NOPE", #"{"value":"\#(value)"}"#),                // 404
                (.patch, "/v1/environments/dev/secrets/LEAK", #"{"value":"\#(value)","extra":"\#(value)"}"#), // 422
                (.patch, "/v1/environments/dev/secrets/LEAK", #"{"value":"\#(value)"#),                 // 400
                (.get, "/v1/environments/dev/secrets", nil),
                (.get, "/v1/environments/dev/secrets/LEAK", nil),
                (.get, "/v1/environments", nil),
                (.delete, "/v1/environments/dev/secrets/LEAK", nil),
            ] as [(HTTPRequest.Method, String, String?)] {
                let response = try await client.send(method, path, token: token, json: body)
                seen.append(response.text + " " + response.headers.map { "\($0.name)=\($0.value)" }.joined(separator: " "))
            }
            let bad = try await client.send(.get, "/v1/environments", token: token + "x")
            seen.append(bad.text)
            return seen
        }.forEach { bodies.append($0) }
        let secretPart = String(token.split(separator: "_", maxSplits: 2).last!)
        for text in bodies + [logText(logs)] {
            #expect(!text.contains("LEAKCHECK"), "a value leaked: \(text)")
            #expect(!text.contains(secretPart), "the token leaked: \(text)")
        }
        #expect(logs.entries.count >= 11)   // one line per request
        #expect(logText(logs).contains("token_id="))
    }
}

/// The built `agent` binary (beside the test bundle, or $AGENT_BIN).
func agentBinaryPath() throws -> String {
    guard let path = builtExecutable() else { throw AgentError(.notFound, "agent binary not found next to the test bundle; set AGENT_BIN") }
    return path
}
