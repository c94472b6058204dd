/// The one error type of the product. Its `kind` is the stable machine `type` string shared by
/// the CLI (exit codes) and the HTTP API (statuses); `message` is for humans and never holds a
/// secret value.
public struct AgentError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable, CaseIterable, Codable {
        case invalidRequest = "invalid_request"
        case authenticationFailed = "authentication_failed"
        case forbidden
        case notFound = "not_found"
        case alreadyExists = "already_exists"
        case validationError = "validation_error"
        case upgradeRequired = "upgrade_required"
        case rateLimited = "rate_limited"
        case internalError = "internal_error"
        case badGateway = "bad_gateway"
        case gatewayTimeout = "gateway_timeout"
        case mergeConflict = "merge_conflict"
        /// Who can read an environment changed without a member's signature (see `Trust`).
        case untrustedChange = "untrusted_change"
        /// A git lock file (`index.lock`, `refs/heads/<branch>.lock`) stayed in place: a git
        /// command is running or crashed. Neither the caller's mistake nor a bug: a person must
        /// look (see `GitLockFile`).
        case locked
        /// The resident agent (`agent start`) went away while it ran a command, or none runs
        /// where `agent status`/`agent stop` looked. The thin client, which cannot link this
        /// module, prints it with the same type and exit code (`AgentWire.AgentUnavailable`).
        case agentUnavailable = "agent_unavailable"

        public var httpStatus: Int {
            switch self {
            case .invalidRequest: 400
            case .authenticationFailed: 401
            case .forbidden: 403
            case .notFound: 404
            case .alreadyExists: 409
            case .validationError: 422
            case .upgradeRequired: 426
            case .rateLimited: 429
            case .internalError: 500
            case .badGateway: 502
            case .gatewayTimeout: 504
            case .mergeConflict: 409
            case .untrustedChange: 409
            case .locked: 423
            case .agentUnavailable: 503
            }
        }

        public var exitCode: Int32 {
            switch self {
            case .internalError: 1
            case .invalidRequest: 2
            case .authenticationFailed: 3
            case .forbidden: 4
            case .notFound: 5
            case .alreadyExists: 6
            case .validationError: 7
            case .upgradeRequired: 8
            case .rateLimited: 9
            case .badGateway: 10
            case .gatewayTimeout: 11
            case .mergeConflict: 12
            case .untrustedChange: 13
            case .locked: 14
            case .agentUnavailable: 15
            }
        }
    }

    /// One entry of the envelope's `errors` list: where (`loc`), what (`msg`), and a machine `type`.
    public struct Detail: Sendable, Equatable, Codable {
        public var loc: [String]
        public var msg: String
        public var type: String

        public init(loc: [String], msg: String, type: String) {
            self.loc = loc
            self.msg = msg
            self.type = type
        }
    }

    public var kind: Kind
    public var message: String
    public var details: [Detail]
    /// How to fix it, printed after the message on a terminal.
    public var hint: String?

    public init(_ kind: Kind, _ message: String, details: [Detail] = [], hint: String? = nil) {
        self.kind = kind
        self.message = message
        self.details = details
        self.hint = hint
    }

    public var description: String {
        hint.map { "\(message)\nhint: \($0)" } ?? message
    }

    /// The canonical envelope: `{"status","message","errors":[{"loc","msg","type"}],"type"}`.
    public struct Envelope: Codable, Sendable, Equatable {
        public var status: Int
        public var message: String
        public var errors: [Detail]
        public var type: String
    }

    public var envelope: Envelope {
        let errors = details.isEmpty
            ? [Detail(loc: [], msg: message, type: kind.rawValue)]
            : details
        return Envelope(status: kind.httpStatus, message: message, errors: errors, type: kind.rawValue)
    }

    /// The envelope as one line of JSON, keys in the documented order. `status` overrides the
    /// kind's HTTP status (the API's 405 for a wrong method is an `invalid_request`).
    public func envelopeJSON(status: Int? = nil) -> String {
        let errors = envelope.errors.map { detail in
            "{\"loc\":[\(detail.loc.map(JSONText.quoted).joined(separator: ","))],\"msg\":\(JSONText.quoted(detail.msg)),\"type\":\(JSONText.quoted(detail.type))}"
        }
        return "{\"status\":\(status ?? kind.httpStatus),\"message\":\(JSONText.quoted(message)),\"errors\":[\(errors.joined(separator: ","))],\"type\":\"\(kind.rawValue)\"}"
    }
}

extension AgentError {
    static func validation(_ field: String, _ msg: String, type: String, hint: String? = nil) -> AgentError {
        AgentError(.validationError, "invalid \(field): \(msg)",
                   details: [Detail(loc: [field], msg: msg, type: type)], hint: hint)
    }

    static func `internal`(_ message: String) -> AgentError {
        AgentError(.internalError, message)
    }

    /// `error` itself when it is an `AgentError`, else an `internal_error` that names only the
    /// error's type (its description could carry anything).
    public static func wrapping(_ error: any Error) -> AgentError {
        if let error = error as? AgentError { return error }
        return AgentError(.internalError, "unexpected \(type(of: error))")
    }
}
