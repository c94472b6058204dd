import Testing
@testable import EnvAgentCore

@Suite struct MaskingTests {
    @Test(arguments: [
        ("sk-proj-abcdefghijklmnop789", "sk-pro••••789"),   // 27 chars: min(6, 6), min(3, 3)
        ("short", "••••"),
        ("1234567", "••••"),                                // 7 chars: under 8
        ("12345678", "12••••8"),                           // 8: ⌊8/4⌋=2, ⌊8/8⌋=1
        ("abcdefghijklmnop", "abcd••••qr".replacingOccurrences(of: "qr", with: "op")), // 16: 4, 2
        ("", "(empty)"),
        ("ééééééééééééééééé", "éééé••••éé"),               // 17 characters, not bytes
    ])
    func masks(_ value: String, _ expected: String) {
        #expect(Masking.mask(value) == expected)
    }

    @Test func longValuesShowAtMostNineCharacters() {
        let value = String(repeating: "x", count: 5000) + "END"
        let masked = Masking.mask(value)
        #expect(masked == "xxxxxx••••END")
        #expect(!masked.contains(String(repeating: "x", count: 7)))
    }
}
