import EnvAgentCore
import HTTPTypes
import Hummingbird
import NIOCore
import FoundationEssentials // Linux only (Package.swift): the smaller Foundation suffices

/// A JSON request body, read and checked field by field so that every bad field is reported
/// with its place (`["body", "value"]`) and a machine type (`missing`, `string_type`,
/// `extra_forbidden`). What a string may contain (names, env vars, value size and bytes) is
/// the core's `Validation`, the same rules the CLI applies.
struct JSONBody {
    static let maxBytes = 1 << 20

    static let tooLarge = AgentError(.invalidRequest, "the request body is larger than 1 MiB",
                                     details: [.init(loc: ["body"], msg: "at most 1 MiB", type: "body_too_large")])

    let fields: [String: JSONValue]

    /// Reads the body: `application/json`, at most 1 MiB, a JSON object.
    static func read(_ request: Request) async throws -> JSONBody {
        let contentType = request.headers[.contentType] ?? ""
        let mediaType = contentType.split(separator: ";").first.map { $0.filter { $0 != " " }.lowercased() } ?? ""
        guard mediaType == "application/json" else {
            throw AgentError(.invalidRequest, "the request body must be JSON (Content-Type: application/json), not '\(contentType.prefix(100))'",
                             details: [.init(loc: ["header", "Content-Type"], msg: "expected application/json", type: "content_type")])
        }
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: maxBytes)
        } catch let error as any HTTPResponseError where error.status == .contentTooLarge {
            throw tooLarge
        }
        let value: JSONValue
        let bytes = Array(buffer.readableBytesView)
        do {
            value = try JSONDecoder().decode(JSONValue.self, from: Data(bytes))
        } catch {
            throw AgentError(.invalidRequest, "the request body is not valid JSON",
                             details: [.init(loc: ["body"], msg: "malformed JSON", type: "json_invalid")])
        }
        // The decoder keeps one of two equal keys silently; which one a proxy or logger in front
        // of us saw is anyone's guess, so such a body is refused.
        if let key = duplicateKey(in: bytes) {
            throw AgentError(.invalidRequest, "the request body has the key '\(key.prefix(100))' twice in one object",
                             details: [.init(loc: ["body", String(key.prefix(100))], msg: "duplicate key", type: "json_invalid")])
        }
        guard case .object(let fields) = value else {
            throw AgentError(.validationError, "the request body must be a JSON object",
                             details: [.init(loc: ["body"], msg: "expected an object", type: "object_type")])
        }
        return JSONBody(fields: fields)
    }

    /// The first key that appears twice in one object of `bytes` (valid JSON), compared after
    /// unescaping; nil when there is none.
    static func duplicateKey(in bytes: [UInt8]) -> String? {
        var objects: [Set<String>?] = [] // nil: an array
        var expectsKey = false
        var index = 0
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "{"): objects.append([]); expectsKey = true
            case UInt8(ascii: "["): objects.append(nil); expectsKey = false
            case UInt8(ascii: "}"), UInt8(ascii: "]"): _ = objects.popLast(); expectsKey = false
            case UInt8(ascii: ","): expectsKey = objects.last.map { $0 != nil } ?? false
            case UInt8(ascii: "\""):
                let start = index
                index += 1
                while index < bytes.count, bytes[index] != UInt8(ascii: "\"") {
                    index += bytes[index] == UInt8(ascii: "\\") ? 2 : 1
                }
                guard expectsKey, var keys = objects.last ?? nil else { break }
                let quoted = bytes[start...min(index, bytes.count - 1)]
                let key = quoted.contains(UInt8(ascii: "\\"))
                    ? (try? JSONDecoder().decode(String.self, from: Data(quoted))) ?? String(decoding: quoted, as: UTF8.self)
                    : String(decoding: quoted.dropFirst().dropLast(), as: UTF8.self)
                guard keys.insert(key).inserted else { return key }
                objects[objects.count - 1] = keys
                expectsKey = false
            default: break
            }
            index += 1
        }
        return nil
    }

    /// The decoded fields of a body.
    struct Fields {
        var strings: [String: String] = [:]
        var booleans: [String: Bool] = [:]
    }

    /// The string fields `required` and `optional`, and the optional boolean fields `booleans`;
    /// every missing, mistyped or unknown field is one entry of a single `validation_error`.
    func fields(required: [String], optional: [String] = [], booleans: [String] = []) throws -> Fields {
        var out = Fields()
        var problems: [AgentError.Detail] = []
        for name in required + optional {
            switch fields[name] {
            case .none:
                if required.contains(name) {
                    problems.append(.init(loc: ["body", name], msg: "field required", type: "missing"))
                }
            case .string(let text):
                out.strings[name] = text
            case .some:
                problems.append(.init(loc: ["body", name], msg: "must be a string", type: "string_type"))
            }
        }
        for name in booleans {
            switch fields[name] {
            case .none: break
            case .bool(let flag): out.booleans[name] = flag
            case .some: problems.append(.init(loc: ["body", name], msg: "must be a boolean", type: "bool_type"))
            }
        }
        for name in fields.keys.sorted() where !required.contains(name) && !optional.contains(name) && !booleans.contains(name) {
            problems.append(.init(loc: ["body", String(name.prefix(100))], msg: "unknown field", type: "extra_forbidden"))
        }
        guard problems.isEmpty else {
            let summary = problems.map { "\($0.loc.joined(separator: ".")): \($0.msg)" }.joined(separator: "; ")
            throw AgentError(.validationError, "invalid request body: \(summary)", details: problems)
        }
        return out
    }
}

/// Any JSON value.
enum JSONValue: Decodable, Sendable {
    case null, bool(Bool), number(Double), string(String), array([JSONValue]), object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode(Double.self) { self = .number(value) }
        else if let value = try? container.decode([JSONValue].self) { self = .array(value) }
        else { self = .object(try container.decode([String: JSONValue].self)) }
    }
}
