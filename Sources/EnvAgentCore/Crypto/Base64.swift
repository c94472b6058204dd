import CSodium

/// Table-driven decoding of standard, padded base64 for public data (ciphertexts, wrapped
/// keys). libsodium's decoder is constant-time, which secrets need and ciphertexts do not; on a
/// 10,000-secret render it was a fifth of the run time.
enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    private static let invalid: UInt8 = 0xFF
    private static let table: [UInt8] = {
        var table = [UInt8](repeating: invalid, count: 256)
        for (index, char) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8.enumerated() {
            table[Int(char)] = UInt8(index)
        }
        return table
    }()

    /// Decodes padded base64; nil for a wrong length, a character outside the alphabet,
    /// misplaced padding or non-zero padding bits.
    static func decode<C: Collection>(_ text: C) -> [UInt8]? where C.Element == UInt8 {
        var output: [UInt8] = []
        return decode(text, into: &output) ? output : nil
    }

    /// Decodes into `output`, replacing its contents and reusing its storage (for decoding many
    /// values in a row); false when `text` is not valid padded base64.
    static func decode<C: Collection>(_ text: C, into output: inout [UInt8]) -> Bool where C.Element == UInt8 {
        let decodeBuffer = { (input: UnsafeBufferPointer<UInt8>) -> Bool in
            let count = input.count
            guard count % 4 == 0 else { return false }
            var padding = 0
            if count > 0, input[count - 1] == UInt8(ascii: "=") { padding += 1 }
            if count > 0, input[count - 2] == UInt8(ascii: "=") { padding += 1 }
            let outputCount = count / 4 * 3 - padding
            if output.count < outputCount {
                output.append(contentsOf: repeatElement(0, count: outputCount - output.count))
            } else {
                output.removeLast(output.count - outputCount)
            }
            return table.withUnsafeBufferPointer { table in
                output.withUnsafeMutableBufferPointer { out in
                    var o = 0
                    var i = 0
                    while i < count {
                        let last = i + 4 == count
                        let a = table[Int(input[i])], b = table[Int(input[i + 1])]
                        let c = last && padding == 2 ? 0 : table[Int(input[i + 2])]
                        let d = last && padding >= 1 ? 0 : table[Int(input[i + 3])]
                        if (a | b | c | d) > 63 { return false }
                        // Canonical only (as libsodium): the bits padding drops must be zero, so
                        // each byte string has exactly one text.
                        if last && (padding == 2 && b & 0x0F != 0 || padding == 1 && c & 0x03 != 0) { return false }
                        let word = UInt32(a) << 18 | UInt32(b) << 12 | UInt32(c) << 6 | UInt32(d)
                        out[o] = UInt8(truncatingIfNeeded: word >> 16); o += 1
                        if o < outputCount { out[o] = UInt8(truncatingIfNeeded: word >> 8); o += 1 }
                        if o < outputCount { out[o] = UInt8(truncatingIfNeeded: word); o += 1 }
                        i += 4
                    }
                    return true
                }
            }
        }
        if let result = text.withContiguousStorageIfAvailable(decodeBuffer) { return result }
        return Array(text).withUnsafeBufferPointer(decodeBuffer)
    }

    /// The length of the padded base64 of `count` bytes.
    static func encodedLength(_ count: Int) -> Int { (count + 2) / 3 * 4 }

    /// `prefix` followed by the padded base64 of `bytes`, as one string (ASCII, built in place).
    static func encode(_ bytes: UnsafeRawBufferPointer, after prefix: String) -> String {
        let prefixBytes = Array(prefix.utf8)
        let count = prefixBytes.count + encodedLength(bytes.count)
        return alphabet.withUnsafeBufferPointer { alphabet in
            String(unsafeUninitializedCapacity: count) { out in
                var o = 0
                for byte in prefixBytes { out[o] = byte; o += 1 }
                var i = 0
                while i + 3 <= bytes.count {
                    let word = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
                    out[o] = alphabet[Int(word >> 18)]
                    out[o + 1] = alphabet[Int(word >> 12 & 63)]
                    out[o + 2] = alphabet[Int(word >> 6 & 63)]
                    out[o + 3] = alphabet[Int(word & 63)]
                    o += 4; i += 3
                }
                let rest = bytes.count - i
                if rest > 0 {
                    let word = UInt32(bytes[i]) << 16 | (rest == 2 ? UInt32(bytes[i + 1]) << 8 : 0)
                    out[o] = alphabet[Int(word >> 18)]
                    out[o + 1] = alphabet[Int(word >> 12 & 63)]
                    out[o + 2] = rest == 2 ? alphabet[Int(word >> 6 & 63)] : UInt8(ascii: "=")
                    out[o + 3] = UInt8(ascii: "=")
                    o += 4
                }
                return o
            }
        }
    }
}

/// libsodium's constant-time base64, for secrets (keys, identities) and every encoding.
extension Crypto {
    public enum Base64Variant: Int32 {
        case standard = 1      // sodium_base64_VARIANT_ORIGINAL
        case urlSafeNoPadding = 7 // sodium_base64_VARIANT_URLSAFE_NO_PADDING
    }

    public static func base64(_ bytes: UnsafeRawBufferPointer, variant: Base64Variant = .standard) -> String {
        _ = initialized
        let length = sodium_base64_encoded_len(bytes.count, variant.rawValue)
        return String(unsafeUninitializedCapacity: length) { buffer in
            buffer.withMemoryRebound(to: CChar.self) { chars in
                _ = sodium_bin2base64(chars.baseAddress!, length,
                                      bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count,
                                      variant.rawValue)
            }
            return length - 1 // without the terminating NUL
        }
    }

    public static func base64(_ bytes: [UInt8], variant: Base64Variant = .standard) -> String {
        bytes.withUnsafeBytes { base64($0, variant: variant) }
    }

    /// Decodes base64 text given as raw bytes; `nil` for anything that is not strict base64.
    public static func decodeBase64<C: Collection>(_ text: C, variant: Base64Variant = .standard) -> [UInt8]?
    where C.Element == UInt8 {
        _ = initialized
        let decode = { (input: UnsafeBufferPointer<UInt8>) -> [UInt8]? in
            var out = [UInt8](repeating: 0, count: input.count / 4 * 3 + 3)
            var written = 0
            let rc = input.withMemoryRebound(to: CChar.self) { chars in
                sodium_base642bin(&out, out.count, chars.baseAddress, chars.count, nil, &written, nil, variant.rawValue)
            }
            guard rc == 0 else { return nil }
            out.removeLast(out.count - written)
            return out
        }
        if let result = text.withContiguousStorageIfAvailable(decode) { return result }
        return Array(text).withUnsafeBufferPointer(decode)
    }
}
