import CLibgit2
#if canImport(Glibc)
import Glibc
#endif

/// How to reach a remote: deadline, SSH credentials and host-key policy.
public struct TransferOptions: Sendable {
    public var timeoutSeconds: Int
    /// The deadline every remote call of one operation shares; nil: each call gets
    /// `timeoutSeconds` from its start. See `startingDeadline()`.
    public var deadline: Deadline?
    /// A private key file for SSH; nil uses ssh-agent.
    public var sshKeyFile: String?
    /// Accept (and record in known_hosts) a host key that is not known yet.
    public var acceptNewHostKey: Bool
    /// The known_hosts file host keys are checked against.
    public var knownHostsFile: String

    public init(timeoutSeconds: Int = 30, sshKeyFile: String? = nil, acceptNewHostKey: Bool = false,
                knownHostsFile: String = "\(FileIO.environment("HOME") ?? "/root")/.ssh/known_hosts") {
        self.timeoutSeconds = timeoutSeconds
        self.sshKeyFile = sshKeyFile
        self.acceptNewHostKey = acceptNewHostKey
        self.knownHostsFile = knownHostsFile
    }

    /// These options with the deadline of an operation starting now (kept when already set),
    /// so that a sync's fetches, pushes and retries together take at most `timeoutSeconds`.
    public func startingDeadline() -> TransferOptions {
        var options = self
        options.deadline = deadline ?? Deadline(seconds: timeoutSeconds)
        return options
    }
}

/// State shared with libgit2's C callbacks through their payload pointer.
final class TransferContext {
    let options: TransferOptions
    let remoteName: String
    let url: String
    let deadline: Deadline
    var credentialAttempts = 0
    var timedOut = false
    /// Why the transport failed, when a callback knows better than libgit2's message.
    var failure: AgentError?
    var rejected: [(reference: String, status: String)] = []
    var accepted: [String] = []

    init(options: TransferOptions, deadline: Deadline, remoteName: String, url: String) {
        self.options = options
        self.deadline = deadline
        self.remoteName = remoteName
        self.url = url
    }

    /// Non-zero (cancel) once the deadline has passed.
    func checkDeadline() -> Int32 {
        guard deadline.hasPassed else { return 0 }
        timedOut = true
        return -1
    }
}

extension GitRepository {
    /// The URL of remote `name`; `not_found` when there is no such remote.
    public func remoteURL(_ name: String) throws -> String {
        var remote: OpaquePointer?
        let rc = git_remote_lookup(&remote, pointer, name)
        if rc == Libgit2.notFound || rc == GIT_EINVALIDSPEC.rawValue {
            throw AgentError(.notFound, "this repository has no remote '\(name)'",
                             hint: "add one with `git remote add \(name) URL`, or pass --remote NAME")
        }
        try Libgit2.check(rc, "git_remote_lookup")
        defer { git_remote_free(remote) }
        return git_remote_url(remote).map { String(cString: $0) } ?? ""
    }

    /// Fetches `refspecs` from remote `name`.
    public func fetch(remote name: String, refspecs: [String], options: TransferOptions) throws {
        try withRemote(name, options) { remote, context, callbacks in
            var opts = git_fetch_options()
            try Libgit2.check(git_fetch_options_init(&opts, UInt32(GIT_FETCH_OPTIONS_VERSION)), "git_fetch_options_init")
            opts.callbacks = callbacks
            opts.prune = GIT_FETCH_NO_PRUNE
            opts.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE
            return withStrArray(refspecs) { array in
                git_remote_fetch(remote, &array, &opts, "agent: fetch")
            }
        }
    }

    /// Publishes `commit` as `branchRef` on remote `name` only if the remote branch is still
    /// `expected` (nil: absent). Returns false when it moved (someone pushed meanwhile).
    ///
    /// Over the network the server's receive-pack checks the old value. libgit2's own local
    /// transport (paths, file://) does not: it force-writes the ref, so two racing pushes could
    /// silently drop one. For a local remote the objects are therefore pushed to a private
    /// temporary ref, and the branch is moved by compare-and-swap in the remote repository.
    public func pushBranch(remote name: String, branchRef: String, commit: ObjectID, expecting expected: ObjectID?,
                           options: TransferOptions) throws -> Bool {
        guard let path = Self.localPath(of: try remoteURL(name)) else {
            return try push(remote: name, refspecs: ["\(branchRef):\(branchRef)"], options: options)
        }
        let incoming = "refs/envagent/incoming/\(Crypto.base64(try Crypto.randomBytes(12), variant: .urlSafeNoPadding))"
        // The branch holds `commit` or (after a local write meanwhile) a descendant of it, so
        // pushing it carries every object `commit` needs.
        guard try push(remote: name, refspecs: ["\(branchRef):\(incoming)"], options: options) else { return false }
        guard let target = try GitRepository.open(path, search: false) else {
            throw AgentError(.badGateway, "the remote '\(name)' is unreachable: there is no repository at \(path)")
        }
        defer { try? target.deleteReference(incoming) }
        if try target.moveReference(branchRef, to: commit, expecting: expected, logMessage: "agent: push") { return true }
        try GitLockFile.waitForRelease(target.lockPath(of: branchRef)) // a crashed push's lock is named, not retried
        return false
    }

    /// Runs `body` holding an advisory lock in a local remote's folder, so agents syncing with
    /// the same local remote take turns instead of starving each other's pushes (the branch is
    /// still moved by compare-and-swap for writers that do not take it). Network remotes, and
    /// local ones that cannot be written, run `body` unlocked.
    /// Waiting for the lock ends with `gateway_timeout` at `deadline`.
    public func withRemoteLock<T>(_ name: String, until deadline: Deadline, _ body: () throws -> T) throws -> T {
        let url = try remoteURL(name)
        guard let path = Self.localPath(of: url), FileIO.isDirectory(path),
              access(path, W_OK) == 0 else { return try body() }
        // Polled rather than a blocking flock, which no deadline could end.
        while true {
            if let result = try FileIO.withExclusiveLock(path + "/envagent-sync.lock", wait: false, body) { return result }
            guard !deadline.hasPassed else {
                throw AgentError(.gatewayTimeout, "the remote '\(name)' (\(url)) stayed locked by another sync for \(deadline.seconds) s",
                                 hint: "run `agent sync` again, or raise --timeout")
            }
            usleep(10_000)
        }
    }

    /// The file-system path of a local remote URL (a path or file://), nil for a network URL.
    static func localPath(of url: String) -> String? {
        if url.hasPrefix("file://") { return String(url.dropFirst("file://".count)) }
        if url.contains("://") { return nil }
        // scp-like `host:path` is SSH; a path may contain ':' only after a '/'.
        if let colon = url.firstIndex(of: ":"), !url[..<colon].contains("/") { return nil }
        return url
    }

    public func deleteReference(_ name: String) throws {
        var ref: OpaquePointer?
        let rc = git_reference_lookup(&ref, pointer, name)
        if rc == Libgit2.notFound { return }
        try Libgit2.check(rc, "git_reference_lookup")
        defer { git_reference_free(ref) }
        try Libgit2.check(git_reference_delete(ref), "git_reference_delete")
    }

    /// Pushes `refspecs` to remote `name`. Returns false when the remote rejected the update as
    /// not a fast-forward or while its branch was locked (someone pushed meanwhile); other
    /// rejections throw `bad_gateway`.
    public func push(remote name: String, refspecs: [String], options: TransferOptions) throws -> Bool {
        var fastForward = true
        try withRemote(name, options) { remote, context, callbacks in
            var opts = git_push_options()
            try Libgit2.check(git_push_options_init(&opts, UInt32(GIT_PUSH_OPTIONS_VERSION)), "git_push_options_init")
            opts.callbacks = callbacks
            let rc = withStrArray(refspecs) { array in git_remote_push(remote, &array, &opts) }
            if rc == GIT_ENONFASTFORWARD.rawValue {
                fastForward = false
                return 0
            }
            // libgit2 may return 0 although the server refused a reference.
            if let rejection = context.rejected.first {
                // Someone pushed first, or is pushing right now (the remote's ref is locked).
                let status = rejection.status.lowercased()
                if status.contains("fast-forward") || status.contains("fetch first") || status.contains("lock") {
                    fastForward = false
                    return 0
                }
                context.failure = AgentError(.badGateway, "the remote '\(name)' rejected \(rejection.reference): \(rejection.status)",
                                             hint: "check the remote's branch protection and your push rights")
                return -1
            }
            // Only a reference the remote confirmed counts as pushed; anything else is retried.
            if rc == 0, !refspecs.allSatisfy({ spec in context.accepted.contains(String(spec.split(separator: ":").last ?? "")) }) {
                fastForward = false
            }
            return rc
        }
        return fastForward
    }

    /// Runs a network operation with callbacks and a deadline (checked in every callback, and
    /// shutting down this operation's connections once passed), and maps failures to
    /// `bad_gateway` / `gateway_timeout`.
    private func withRemote(_ name: String, _ options: TransferOptions,
                            _ body: (OpaquePointer, TransferContext, git_remote_callbacks) throws -> Int32) throws {
        let url = try remoteURL(name)
        if let localPath = Self.localPath(of: url), !FileIO.isDirectory(localPath) {
            throw AgentError(.badGateway, "the remote '\(name)' is unreachable: there is no repository at \(localPath)",
                             hint: "nothing local was lost; check the path (`git remote -v`) and run `agent sync` again")
        }
        var remote: OpaquePointer?
        try Libgit2.check(git_remote_lookup(&remote, pointer, name), "git_remote_lookup")
        var freed = false
        defer { if !freed { git_remote_free(remote) } }
        let deadline = options.deadline ?? Deadline(seconds: options.timeoutSeconds)
        let timedOut = AgentError(.gatewayTimeout, "the remote '\(name)' (\(Self.redacted(url))) did not answer within \(deadline.seconds) s",
                                  hint: "check the network, or raise --timeout")
        guard !deadline.hasPassed else { throw timedOut }
        let context = TransferContext(options: options, deadline: deadline, remoteName: name, url: url)
        var callbacks = git_remote_callbacks()
        try Libgit2.check(git_remote_init_callbacks(&callbacks, UInt32(GIT_REMOTE_CALLBACKS_VERSION)), "git_remote_init_callbacks")
        let payload = Unmanaged.passUnretained(context).toOpaque()
        callbacks.payload = payload
        callbacks.credentials = transferCredentials
        callbacks.certificate_check = transferCertificateCheck
        callbacks.sideband_progress = { _, _, payload in TransferCallbacks.context(payload).checkDeadline() }
        callbacks.transfer_progress = { _, payload in TransferCallbacks.context(payload).checkDeadline() }
        callbacks.push_transfer_progress = { _, _, _, payload in TransferCallbacks.context(payload).checkDeadline() }
        callbacks.pack_progress = { _, _, _, payload in TransferCallbacks.context(payload).checkDeadline() }
        callbacks.push_update_reference = { reference, status, payload in
            let context = TransferCallbacks.context(payload)
            let name = reference.map { String(cString: $0) } ?? "?"
            if let status { context.rejected.append((name, String(cString: status))) } else { context.accepted.append(name) }
            return 0
        }
        let rc = try withExtendedLifetime(context) {
            try deadline.limitingConnections {
                // Freeing disconnects, which may wait for the peer too (closing an SSH channel).
                defer { git_remote_free(remote); freed = true }
                return try body(remote!, context, callbacks)
            }
        }
        guard rc < 0 else { return }
        if context.timedOut || deadline.hasPassed { throw timedOut }
        if let failure = context.failure { throw failure }
        let message = Libgit2.lastErrorMessage()
        let lower = message.lowercased()
        if lower.contains("unable to exchange encryption keys") { throw Self.keyExchangeFailure(name, url: url, message: message, options: options) }
        let what: String
        if lower.contains("auth") || lower.contains("credential") || lower.contains("permission denied") || lower.contains("401") || lower.contains("403") {
            what = "refused authentication"
        } else if lower.contains("could not find repository") || lower.contains("not found") || lower.contains("does not exist")
                    || lower.contains("failed to resolve") || lower.contains("connect") || lower.contains("unreachable") {
            what = "is unreachable"
        } else {
            what = "failed"
        }
        throw AgentError(.badGateway, "the remote '\(name)' (\(Self.redacted(url))) \(what): \(message)",
                         hint: "nothing local was lost; `agent sync` retries")
    }

    /// libssh2 and the server agreed on no algorithm. The usual cause: known_hosts has the
    /// host only with an RSA (or DSA) key, so libgit2 asks for that host key type only, and
    /// libssh2 1.10 can verify RSA host keys only with SHA-1 (`ssh-rsa`), which OpenSSH ≥ 8.8
    /// no longer offers.
    static func keyExchangeFailure(_ name: String, url: String, message: String, options: TransferOptions) -> AgentError {
        let file = options.knownHostsFile
        let prefix = "the remote '\(name)' (\(redacted(url))) failed: \(message)"
        guard let host = KnownHosts.host(of: url) else {
            return AgentError(.badGateway, prefix, hint: "the server offers no key exchange or host key algorithm libssh2 supports")
        }
        let port = KnownHosts.port(of: url)
        let known = KnownHosts.knownTypes(file: file, host: host, port: port)
        let pattern = KnownHosts.pattern(host: host, port: port)
        if known.contains("ssh-rsa") || known.contains("ssh-dss") {
            let only = known.allSatisfy { $0 == "ssh-rsa" || $0 == "ssh-dss" } ? "only " : ""
            return AgentError(.badGateway, "\(prefix): \(file) knows \(host) \(only)by its \(known.joined(separator: ", ")) key, so libgit2 asks the server for an RSA host key, and libssh2 cannot verify one from a current OpenSSH server (it knows only SHA-1 ssh-rsa signatures)",
                              hint: "replace the RSA line with the server's ed25519 key: `ssh-keygen -R '\(pattern)' -f \(file)`, check `ssh-keyscan -p \(port) -t ed25519 \(host) | ssh-keygen -lf -` against the server's fingerprint, then append `ssh-keyscan -p \(port) -t ed25519 \(host)` to \(file) (or run agent sync --accept-new-host-key); a server with only an RSA host key needs an ed25519 one (`ssh-keygen -A` there)")
        }
        return AgentError(.badGateway, prefix,
                          hint: "the server offers no key exchange or host key algorithm libssh2 supports (curve25519, ecdh-sha2, diffie-hellman group14/16/18; ed25519, ecdsa or rsa host keys): check its KexAlgorithms and HostKeyAlgorithms")
    }

    /// A URL without any password it may carry.
    static func redacted(_ url: String) -> String {
        let parts = url.split(separator: "/", maxSplits: 3, omittingEmptySubsequences: false)
        guard parts.count > 2, parts[0].hasSuffix(":"), parts[1].isEmpty,
              let at = parts[2].lastIndex(of: "@"), let colon = parts[2][..<at].firstIndex(of: ":") else { return url }
        let host = parts[2]
        return "\(parts[0])//\(host[..<colon]):***\(host[at...])" + (parts.count > 3 ? "/" + parts[3] : "")
    }

    private func withStrArray<R>(_ strings: [String], _ body: (inout git_strarray) throws -> R) rethrows -> R {
        var pointers = strings.map { strdup($0) }
        defer { pointers.forEach { free($0) } }
        return try pointers.withUnsafeMutableBufferPointer { buffer in
            var array = git_strarray(strings: buffer.baseAddress, count: buffer.count)
            return try body(&array)
        }
    }
}

enum TransferCallbacks {
    static func context(_ payload: UnsafeMutableRawPointer?) -> TransferContext {
        Unmanaged<TransferContext>.fromOpaque(payload!).takeUnretainedValue()
    }
}

/// SSH credentials: the key file when given, else ssh-agent; gives up after two attempts so a
/// refused key does not loop.
private func transferCredentials(_ out: UnsafeMutablePointer<UnsafeMutablePointer<git_credential>?>?,
                                 _ url: UnsafePointer<CChar>?, _ username: UnsafePointer<CChar>?,
                                 _ allowed: UInt32, _ payload: UnsafeMutableRawPointer?) -> Int32 {
    let context = TransferCallbacks.context(payload)
    if context.checkDeadline() != 0 { return -1 }
    context.credentialAttempts += 1
    let user = username.map { String(cString: $0) } ?? "git"
    guard context.credentialAttempts <= 2, allowed & GIT_CREDENTIAL_SSH_KEY.rawValue != 0 else {
        context.failure = AgentError(.badGateway, "the remote '\(context.remoteName)' refused authentication",
                                     hint: context.options.sshKeyFile == nil
                                        ? "load your key into ssh-agent, or pass --ssh-key FILE (or AGENT_SSH_KEY)"
                                        : "check that the key \(context.options.sshKeyFile!) is authorised on the server")
        return GIT_EAUTH.rawValue
    }
    if let keyFile = context.options.sshKeyFile {
        guard access(keyFile, R_OK) == 0 else {
            context.failure = AgentError(.badGateway, "cannot read the SSH key file \(keyFile)",
                                         hint: "pass the private key (not the .pub) with --ssh-key FILE or AGENT_SSH_KEY")
            return GIT_EAUTH.rawValue
        }
        return git_credential_ssh_key_new(out, user, nil, keyFile, nil)
    }
    guard let socket = FileIO.environment("SSH_AUTH_SOCK"), !socket.isEmpty else {
        context.failure = AgentError(.badGateway, "no SSH key for the remote '\(context.remoteName)': ssh-agent is not running (SSH_AUTH_SOCK is not set)",
                                     hint: "pass --ssh-key FILE (or set AGENT_SSH_KEY), or start ssh-agent and ssh-add your key")
        return GIT_EAUTH.rawValue
    }
    return git_credential_ssh_key_from_agent(out, user)
}

/// Host keys are checked against known_hosts (TLS certificates are left to libgit2's own
/// verification, which passes `valid`).
private func transferCertificateCheck(_ cert: UnsafeMutablePointer<git_cert>?, _ valid: Int32,
                                      _ host: UnsafePointer<CChar>?, _ payload: UnsafeMutableRawPointer?) -> Int32 {
    let context = TransferCallbacks.context(payload)
    guard let cert, cert.pointee.cert_type == GIT_CERT_HOSTKEY_LIBSSH2 else { return valid != 0 ? 0 : GIT_ECERTIFICATE.rawValue }
    let hostkey = UnsafeMutableRawPointer(cert).assumingMemoryBound(to: git_cert_hostkey.self).pointee
    guard hostkey.type.rawValue & GIT_CERT_SSH_RAW.rawValue != 0, let raw = hostkey.hostkey else {
        context.failure = AgentError(.badGateway, "the SSH host key of '\(context.remoteName)' could not be read")
        return GIT_ECERTIFICATE.rawValue
    }
    let key = Array(UnsafeRawBufferPointer(start: raw, count: hostkey.hostkey_len))
    let hostName = host.map { String(cString: $0) } ?? ""
    let port = KnownHosts.port(of: context.url)
    let file = context.options.knownHostsFile
    switch KnownHosts.check(file: file, host: hostName, port: port, key: key, type: hostkey.raw_type) {
    case .match:
        return 0
    case .mismatch:
        context.failure = AgentError(.badGateway, "the SSH host key of \(hostName) does not match \(file): possible man-in-the-middle; refusing to connect",
                                     hint: "if the server's key really changed, remove its old line with `ssh-keygen -R '\(KnownHosts.pattern(host: hostName, port: port))'` and check the new fingerprint")
        return GIT_ECERTIFICATE.rawValue
    case .unknown(let knownTypes):
        if context.options.acceptNewHostKey,
           (try? KnownHosts.append(file: file, host: hostName, port: port, key: key, type: hostkey.raw_type)) != nil {
            return 0
        }
        let offered = KnownHosts.keyType(hostkey.raw_type)?.name ?? "unknown"
        if knownTypes.isEmpty {
            context.failure = AgentError(.badGateway, "the SSH host \(hostName) is not in \(file)",
                                         hint: "verify its fingerprint, then connect once with --accept-new-host-key (or ssh to it)")
        } else {
            context.failure = AgentError(.badGateway, "\(file) knows \(hostName) only by its \(knownTypes.joined(separator: ", ")) key, and the server offered its \(offered) key",
                                         hint: "check the \(offered) fingerprint (`ssh-keyscan -p \(port) -t \(offered) \(hostName) | ssh-keygen -lf -`), then run again with --accept-new-host-key to add it")
        }
        return GIT_ECERTIFICATE.rawValue
    }
}
