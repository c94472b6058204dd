/// Masked display of a value: the first min(6, ⌊n/4⌋) and last min(3, ⌊n/8⌋) characters around
/// `••••`; values under 8 characters show `••••` only, and an empty value `(empty)` (no secret
/// has that length to hide). Characters, not bytes, so no UTF-8 sequence is cut.
public enum Masking {
    public static let bullets = "••••"
    public static let empty = "(empty)"

    public static func mask(_ value: SecretBytes) -> String {
        mask(value.utf8String)
    }

    public static func mask(_ value: String) -> String {
        let scalars = Array(value.unicodeScalars)
        let n = scalars.count
        guard n > 0 else { return empty }
        guard n >= 8 else { return bullets }
        let head = min(6, n / 4), tail = min(3, n / 8)
        var out = String.UnicodeScalarView()
        out.append(contentsOf: scalars[0..<head])
        out.append(contentsOf: bullets.unicodeScalars)
        out.append(contentsOf: scalars[(n - tail)...])
        return String(out)
    }
}
