#if canImport(Glibc)
import Glibc
#endif

/// Writing to standard output and error through their descriptors (Swift 6 forbids glibc's
/// `stdout`/`stderr` globals). A short write or EINTR is continued; a failed write (a closed
/// pipe) drops the rest, as `print` would.
public enum StandardStreams {
    public static let output: Int32 = 1
    public static let error: Int32 = 2

    public static func write(_ bytes: [UInt8], to fd: Int32) {
        bytes.withUnsafeBytes { write($0, to: fd) }
    }

    public static func write(_ text: String, to fd: Int32) {
        var text = text
        text.withUTF8 { write(UnsafeRawBufferPointer($0), to: fd) }
    }

    /// A secret's bytes, with no copy made (`agent get`, `agent render` to stdout).
    public static func write(_ secret: SecretBytes, to fd: Int32) {
        secret.withUnsafeBytes { write($0, to: fd) }
    }

    private static func write(_ bytes: UnsafeRawBufferPointer, to fd: Int32) {
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 { if errno == EINTR { continue } else { return } }
            offset += n
        }
    }
}
