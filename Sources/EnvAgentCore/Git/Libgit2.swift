import CAgentShims
import CLibgit2

/// libgit2 initialisation and the single place where its return codes become `AgentError`s.
public enum Libgit2 {
    /// Whether `git_libgit2_init` and the agent's options (see `envagent_git_configure`) succeeded.
    private static let initialized: Bool = git_libgit2_init() > 0 && envagent_git_configure() == 0

    static func ensureInitialized() throws {
        guard initialized else { throw AgentError.internal("libgit2 failed to initialise: \(lastErrorMessage())") }
    }

    /// Initialises libgit2 now rather than on first use: the resident agent does it once, so
    /// the processes it forks for requests start with libgit2 ready (CA bundle parsed).
    public static func initialize() throws {
        try ensureInitialized()
    }

    /// Whether this libgit2 was built with the SSH transport (libssh2).
    public static var supportsSSH: Bool {
        (try? ensureInitialized()) != nil && git_libgit2_features() & Int32(GIT_FEATURE_SSH.rawValue) != 0
    }

    static func lastErrorMessage() -> String {
        guard let error = git_error_last(), let message = error.pointee.message else { return "unknown error" }
        return String(cString: message)
    }

    /// Returns `code` when it is not an error; otherwise throws with the failing function's name.
    @discardableResult
    static func check(_ code: Int32, _ function: StaticString) throws -> Int32 {
        guard code < 0 else { return code }
        throw AgentError.internal("git: \(function) failed: \(lastErrorMessage())")
    }

    static func isLostRace(_ code: Int32) -> Bool {
        code == GIT_EMODIFIED.rawValue || code == GIT_ELOCKED.rawValue || code == GIT_EEXISTS.rawValue
    }

    static let notFound = GIT_ENOTFOUND.rawValue
}

/// A git object id (SHA-1).
public struct ObjectID: Hashable, Sendable, CustomStringConvertible {
    var raw: git_oid

    init(_ raw: git_oid) { self.raw = raw }

    public init?(hex: String) {
        var oid = git_oid()
        guard hex.utf8.count == 40, git_oid_fromstr(&oid, hex) == 0 else { return nil }
        raw = oid
    }

    public var hex: String {
        var buffer = [CChar](repeating: 0, count: 41)
        var copy = raw
        git_oid_tostr(&buffer, buffer.count, &copy)
        return String(decoding: buffer.prefix(40).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public var description: String { hex }

    public static func == (lhs: ObjectID, rhs: ObjectID) -> Bool {
        var l = lhs.raw, r = rhs.raw
        return git_oid_equal(&l, &r) != 0
    }

    public func hash(into hasher: inout Hasher) {
        withUnsafeBytes(of: raw) { hasher.combine(bytes: $0) }
    }
}

extension UInt8 {
    /// A lowercase hexadecimal digit, as git spells object ids and fan-out folders.
    var isHexDigit: Bool { (self >= 0x30 && self <= 0x39) || (self >= 0x61 && self <= 0x66) }
}
