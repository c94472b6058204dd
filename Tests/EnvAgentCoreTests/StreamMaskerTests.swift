import Testing
@testable import EnvAgentCore

@Suite struct StreamMaskerTests {
    /// Feeds `text` in pieces of `size` bytes and returns everything passed on.
    func masked(_ text: String, values: [String], pieces size: Int) -> String {
        let masker = StreamMasker(values: values.map { SecretBytes(Array($0.utf8)) })
        let bytes = Array(text.utf8)
        var out: [UInt8] = []
        var start = 0
        while start < bytes.count {
            let end = min(start + size, bytes.count)
            out += masker.feed(bytes[start..<end])
            start = end
        }
        out += masker.finish()
        return String(decoding: out, as: UTF8.self)
    }

    @Test(arguments: [1, 2, 3, 5, 7, 64])
    func masksValuesWhateverTheReadSizes(_ size: Int) {
        let values = ["secret-one-1234", "secret-one-1234-longer", "abcdef", "xyz", "ééééééé"]
        let text = "a secret-one-1234 b secret-one-1234-longer c secret-one-123 d abcdefabcdef xyz ééééééé secret-"
        let expected = "a \(Masking.mask("secret-one-1234")) b \(Masking.mask("secret-one-1234-longer")) c secret-one-123 d "
            + "\(Masking.mask("abcdef"))\(Masking.mask("abcdef")) xyz \(Masking.mask("ééééééé")) secret-"
        #expect(masked(text, values: values, pieces: size) == expected)
    }

    @Test func passesOtherOutputAtOnce() {
        let masker = StreamMasker(values: [SecretBytes(Array("password-123".utf8))])
        // Nothing that could begin a value is held back (a prompt without a newline shows).
        #expect(masker.feed(Array("Continue? ".utf8)[...]) == Array("Continue? ".utf8))
        #expect(masker.feed(Array("pass".utf8)[...]) == [])
        #expect(masker.feed(Array("ive\n".utf8)[...]) == Array("passive\n".utf8))
        #expect(masker.finish() == [])
        #expect(!StreamMasker(values: [SecretBytes(Array("short".utf8))]).isActive)
    }
}
