import Foundation
import TestSupport
import Testing
@testable import EnvAgentCore

/// known_hosts as OpenSSH writes it, read through libssh2: plain and hashed entries of every key
/// type (RSA too, which no current server lets libssh2 verify over the wire).
@Suite(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/ssh-keygen"), "needs ssh-keygen"))
struct KnownHostsTests {
    /// A fresh host key of `type`: its OpenSSH name and raw blob.
    func hostKey(_ type: String, in folder: String) throws -> (name: String, blob: [UInt8], line: String) {
        let file = folder + "/\(type)-\(UUID().uuidString.prefix(6))"
        try #require(try runProcess("/usr/bin/ssh-keygen", ["-q", "-t", type, "-N", "", "-f", file]).status == 0)
        let fields = try String(contentsOfFile: file + ".pub", encoding: .utf8).split(separator: " ")
        return (String(fields[0]), try #require(Crypto.decodeBase64(fields[1].utf8)), "\(fields[0]) \(fields[1])")
    }

    @Test(arguments: ["ed25519", "ecdsa", "rsa"], [false, true])
    func everyKeyTypePlainOrHashed(_ type: String, _ hashed: Bool) throws {
        let folder = NSTemporaryDirectory() + "known-hosts-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let key = try hostKey(type, in: folder), other = try hostKey(type, in: folder)
        let file = folder + "/known_hosts"
        // A line libssh2 cannot parse first: it must not hide the entries after it.
        try "@cert-authority *.example.com ssh-ed25519 AAAA\n[127.0.0.1]:2222 \(key.line)\ngit.example.com \(key.line)\n"
            .write(toFile: file, atomically: true, encoding: .utf8)
        if hashed {
            try #require(try runProcess("/usr/bin/ssh-keygen", ["-H", "-f", file]).status == 0)
            #expect(try !String(contentsOfFile: file, encoding: .utf8).contains("127.0.0.1"))
        }
        let number = try #require(KnownHosts.keyTypes.first { $0.name == key.name }?.number)
        #expect(KnownHosts.check(file: file, host: "127.0.0.1", port: 2222, key: key.blob, typeNumber: number) == .match)
        #expect(KnownHosts.check(file: file, host: "git.example.com", port: 22, key: key.blob, typeNumber: number) == .match)
        #expect(KnownHosts.check(file: file, host: "127.0.0.1", port: 2222, key: other.blob, typeNumber: number) == .mismatch)
        #expect(KnownHosts.check(file: file, host: "127.0.0.1", port: 22, key: key.blob, typeNumber: number) == .unknown(knownTypes: []))
        #expect(KnownHosts.knownTypes(file: file, host: "127.0.0.1", port: 2222) == [key.name])
        let elsewhere = try #require(KnownHosts.keyTypes.first { $0.name != key.name }?.number)
        #expect(KnownHosts.check(file: file, host: "127.0.0.1", port: 2222, key: key.blob, typeNumber: elsewhere) == .unknown(knownTypes: [key.name]))
    }
}
