/// Minimal JSON string writing, for output whose key order is part of the contract (the error
/// envelope) and for rendering values into buffers that are wiped afterwards.
public enum JSONText {
    private static let quote = UInt8(ascii: "\"")
    private static let hex = Array("0123456789abcdef".utf8)

    static func appendString<C: Collection>(_ value: C, to out: inout [UInt8]) where C.Element == UInt8 {
        out.append(quote)
        for byte in value { appendEscaped(byte, to: &out) }
        out.append(quote)
    }

    /// A value being rendered, read in place.
    static func appendString(_ value: Span<UInt8>, to out: inout [UInt8]) {
        out.append(quote)
        for index in value.indices { appendEscaped(value[index], to: &out) }
        out.append(quote)
    }

    @inline(__always)
    private static func appendEscaped(_ byte: UInt8, to out: inout [UInt8]) {
        switch byte {
        case quote: out += "\\\"".utf8
        case UInt8(ascii: "\\"): out += "\\\\".utf8
        case UInt8(ascii: "\n"): out += "\\n".utf8
        case UInt8(ascii: "\r"): out += "\\r".utf8
        case UInt8(ascii: "\t"): out += "\\t".utf8
        case 0..<0x20:
            out += "\\u00".utf8
            out.append(hex[Int(byte >> 4)])
            out.append(hex[Int(byte & 0xF)])
        default: out.append(byte)
        }
    }

    public static func quoted(_ text: String) -> String {
        var out: [UInt8] = []
        appendString(text.utf8, to: &out)
        return String(decoding: out, as: UTF8.self)
    }
}
