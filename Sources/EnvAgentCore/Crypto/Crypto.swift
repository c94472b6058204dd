import CSodium
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Every libsodium primitive the product uses, in one place.
public enum Crypto {
    static let initialized: Bool = sodium_init() >= 0

    static func ensureInitialized() throws {
        guard initialized else { throw AgentError.internal("libsodium failed to initialise") }
    }

    // MARK: Sizes
    public static let aeadKeyBytes = Int(crypto_aead_xchacha20poly1305_ietf_keybytes())
    public static let aeadNonceBytes = Int(crypto_aead_xchacha20poly1305_ietf_npubbytes())
    public static let aeadTagBytes = Int(crypto_aead_xchacha20poly1305_ietf_abytes())
    public static let publicKeyBytes = Int(crypto_box_publickeybytes())
    public static let secretKeyBytes = Int(crypto_box_secretkeybytes())
    public static let sealBytes = Int(crypto_box_sealbytes())

    // MARK: Random

    public static func randomBytes(_ count: Int) throws -> [UInt8] {
        try ensureInitialized()
        var out = [UInt8](repeating: 0, count: count)
        out.withUnsafeMutableBytes { randombytes_buf($0.baseAddress!, count) }
        return out
    }

    /// Random nonces from a pooled buffer instead of one `getrandom` per seal (an import of
    /// 10,000 values made 10,000 system calls). A refill draws 256 bytes (one `getrandom`, 10
    /// nonces) and doubles with each refill up to 8 KiB, so one update does not pay for 32 calls
    /// it never uses. Nonces are public (they precede each ciphertext), so holding the next ones
    /// in memory reveals nothing; the buffer is wiped and dropped when the process id changes, so
    /// a forked child never reuses a nonce its parent handed out.
    private enum NoncePool {
        private static let firstRefill = 256, largestRefill = 8192
        private struct State {
            var bytes = [UInt8](repeating: 0, count: largestRefill)
            var filled = 0
            var offset = 0
            var nextRefill = firstRefill
            var pid: pid_t = 0
        }
        private static let state = Mutex(State())

        static func fill(_ target: UnsafeMutableRawPointer, count: Int) {
            state.withLock { state in
                let pid = getpid()
                if state.pid != pid {
                    state.bytes.withUnsafeMutableBytes { sodium_memzero($0.baseAddress!, $0.count) }
                    state = State()
                    state.pid = pid
                }
                if state.offset + count > state.filled {
                    let amount = min(largestRefill, max(state.nextRefill, count))
                    state.bytes.withUnsafeMutableBytes { randombytes_buf($0.baseAddress!, amount) }
                    state.filled = amount
                    state.offset = 0
                    state.nextRefill = min(largestRefill, state.nextRefill * 2)
                }
                state.bytes.withUnsafeMutableBytes { buffer in
                    target.copyMemory(from: buffer.baseAddress! + state.offset, byteCount: count)
                    sodium_memzero(buffer.baseAddress! + state.offset, count) // each nonce is handed out once
                }
                state.offset += count
            }
        }
    }

    public static func newAEADKey() throws -> SecretBytes {
        try ensureInitialized()
        let key = SecretBytes(count: aeadKeyBytes)
        key.withUnsafeMutableBytes {
            crypto_aead_xchacha20poly1305_ietf_keygen($0.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        return key
    }

    // MARK: AEAD (XChaCha20-Poly1305-IETF)

    /// Seals `plaintext` under `key` with a fresh random nonce; returns nonce ‖ ciphertext ‖ tag.
    public static func seal(_ plaintext: UnsafeRawBufferPointer, key: SecretBytes,
                            associatedData: [UInt8]) throws -> [UInt8] {
        try ensureInitialized()
        guard key.count == aeadKeyBytes else { throw AgentError.internal("wrong AEAD key length") }
        var out = [UInt8](repeating: 0, count: aeadNonceBytes + plaintext.count + aeadTagBytes)
        out.withUnsafeMutableBytes { NoncePool.fill($0.baseAddress!, count: aeadNonceBytes) }
        var written: UInt64 = 0
        let rc = out.withUnsafeMutableBufferPointer { outBuf in
            key.withUnsafeBytes { k in
                associatedData.withUnsafeBufferPointer { ad in
                    crypto_aead_xchacha20poly1305_ietf_encrypt(
                        outBuf.baseAddress! + aeadNonceBytes, &written,
                        plaintext.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(plaintext.count),
                        ad.baseAddress, UInt64(ad.count),
                        nil, outBuf.baseAddress!, k.baseAddress!.assumingMemoryBound(to: UInt8.self))
                }
            }
        }
        guard rc == 0 else { throw AgentError.internal("encryption failed") }
        return out
    }

    /// Seals `plaintext` under `key` with the caller's `nonce` (which must never repeat under
    /// `key`); returns ciphertext ‖ tag. For a key used once, like one derived from a fresh salt.
    public static func seal(_ plaintext: SecretBytes, key: SecretBytes, nonce: [UInt8], associatedData: [UInt8]) throws -> [UInt8] {
        try ensureInitialized()
        guard key.count == aeadKeyBytes, nonce.count == aeadNonceBytes else { throw AgentError.internal("wrong AEAD key or nonce length") }
        var out = [UInt8](repeating: 0, count: plaintext.count + aeadTagBytes)
        var written: UInt64 = 0
        let rc = plaintext.withUnsafeBytes { m in
            key.withUnsafeBytes { k in
                crypto_aead_xchacha20poly1305_ietf_encrypt(
                    &out, &written, m.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(m.count),
                    associatedData, UInt64(associatedData.count), nil, nonce,
                    k.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
        }
        guard rc == 0 else { throw AgentError.internal("encryption failed") }
        return out
    }

    /// Opens nonce ‖ ciphertext ‖ tag; `nil` when the tag does not verify (wrong key, wrong
    /// associated data, or tampered bytes).
    public static func open(_ sealed: [UInt8], key: SecretBytes, associatedData: [UInt8]) throws -> SecretBytes? {
        guard sealed.count >= aeadNonceBytes + aeadTagBytes else { return nil }
        let plain = SecretBytes(count: sealed.count - aeadNonceBytes - aeadTagBytes)
        let opened = try plain.withUnsafeMutableBytes { plaintext in
            try sealed.withUnsafeBytes { sealed in
                try key.withUnsafeBytes { key in
                    try associatedData.withUnsafeBytes { try open(sealed, key: key, associatedData: $0, into: plaintext) }
                }
            }
        }
        return opened ? plain : nil
    }

    /// Opens nonce ‖ ciphertext ‖ tag into `plaintext` (exactly `sealed.count` − 40 bytes);
    /// false when the tag does not verify or the sizes do not fit. On buffers, so opening many
    /// values in a row touches no reference count.
    static func open(_ sealed: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer, associatedData: UnsafeRawBufferPointer,
                     into plaintext: UnsafeMutableRawBufferPointer) throws -> Bool {
        try ensureInitialized()
        guard sealed.count >= aeadNonceBytes + aeadTagBytes, key.count == aeadKeyBytes,
              plaintext.count == sealed.count - aeadNonceBytes - aeadTagBytes else { return false }
        let s = sealed.baseAddress!.assumingMemoryBound(to: UInt8.self)
        var written: UInt64 = 0
        return crypto_aead_xchacha20poly1305_ietf_decrypt(
            plaintext.baseAddress?.assumingMemoryBound(to: UInt8.self), &written, nil,
            s + aeadNonceBytes, UInt64(sealed.count - aeadNonceBytes),
            associatedData.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(associatedData.count),
            s, key.baseAddress!.assumingMemoryBound(to: UInt8.self)) == 0
    }

    // MARK: Passphrase hashing (Argon2id)

    public static let passphraseSaltBytes = Int(crypto_pwhash_saltbytes())
    /// `crypto_pwhash_ALG_ARGON2ID13`.
    public static let argon2id13 = crypto_pwhash_alg_argon2id13()

    /// Argon2id (version 1.3) of `passphrase` with `salt`, `opsLimit` passes over `memLimit`
    /// bytes: a `length`-byte key. Fails `internal_error` when the memory cannot be allocated.
    public static func deriveKey(passphrase: SecretBytes, salt: [UInt8], opsLimit: UInt64, memLimit: Int,
                                 length: Int = aeadKeyBytes) throws -> SecretBytes {
        try ensureInitialized()
        guard salt.count == passphraseSaltBytes else { throw AgentError.internal("wrong passphrase salt length") }
        let key = SecretBytes(count: length)
        let rc = key.withUnsafeMutableBytes { out in
            passphrase.withUnsafeBytes { pass in
                let derive = { (pointer: UnsafePointer<CChar>, count: Int) in
                    crypto_pwhash(out.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt64(length),
                                  pointer, UInt64(count), salt, opsLimit, memLimit, argon2id13)
                }
                if let base = pass.baseAddress { return derive(base.assumingMemoryBound(to: CChar.self), pass.count) }
                var none: CChar = 0 // an empty passphrase still has an address
                return derive(&none, 0)
            }
        }
        guard rc == 0 else {
            throw AgentError.internal("cannot derive the key from the passphrase (Argon2id with \(memLimit / 1_048_576) MiB: out of memory?)")
        }
        return key
    }

    // MARK: Key pairs and sealed boxes (X25519)

    public static func newKeyPair() throws -> (publicKey: [UInt8], secretKey: SecretBytes) {
        try ensureInitialized()
        var pk = [UInt8](repeating: 0, count: publicKeyBytes)
        let sk = SecretBytes(count: secretKeyBytes)
        let rc = sk.withUnsafeMutableBytes { crypto_box_keypair(&pk, $0.baseAddress!.assumingMemoryBound(to: UInt8.self)) }
        guard rc == 0 else { throw AgentError.internal("key generation failed") }
        return (pk, sk)
    }

    public static func publicKey(forSecretKey sk: SecretBytes) throws -> [UInt8] {
        try ensureInitialized()
        var pk = [UInt8](repeating: 0, count: publicKeyBytes)
        let rc = sk.withUnsafeBytes { crypto_scalarmult_base(&pk, $0.baseAddress!.assumingMemoryBound(to: UInt8.self)) }
        guard rc == 0 else { throw AgentError.internal("public key derivation failed") }
        return pk
    }

    /// Anonymous sealed box for `recipient`: only the holder of its secret key can open it.
    public static func sealedBox(_ message: SecretBytes, to recipient: [UInt8]) throws -> [UInt8] {
        try ensureInitialized()
        var out = [UInt8](repeating: 0, count: message.count + sealBytes)
        let rc = message.withUnsafeBytes { m in
            crypto_box_seal(&out, m.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt64(m.count), recipient)
        }
        guard rc == 0 else { throw AgentError.internal("sealing failed") }
        return out
    }

    /// The key pair derived from a 32-byte `seed` (`crypto_box_seed_keypair`): the same seed
    /// always gives the same pair.
    public static func keyPair(seed: SecretBytes) throws -> (publicKey: [UInt8], secretKey: SecretBytes) {
        try ensureInitialized()
        guard seed.count == Int(crypto_box_seedbytes()) else { throw AgentError.internal("wrong key seed length") }
        var pk = [UInt8](repeating: 0, count: publicKeyBytes)
        let sk = SecretBytes(count: secretKeyBytes)
        let rc = sk.withUnsafeMutableBytes { s in
            seed.withUnsafeBytes { seed in
                crypto_box_seed_keypair(&pk, s.baseAddress!.assumingMemoryBound(to: UInt8.self),
                                        seed.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
        }
        guard rc == 0 else { throw AgentError.internal("key derivation failed") }
        return (pk, sk)
    }

    public static func openSealedBox(_ box: [UInt8], publicKey: [UInt8], secretKey: SecretBytes) throws -> SecretBytes? {
        try ensureInitialized()
        guard box.count > sealBytes else { return nil }
        let out = SecretBytes(count: box.count - sealBytes)
        let rc = out.withUnsafeMutableBytes { o in
            secretKey.withUnsafeBytes { sk in
                crypto_box_seal_open(o.baseAddress!.assumingMemoryBound(to: UInt8.self), box, UInt64(box.count),
                                     publicKey, sk.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
        }
        return rc == 0 ? out : nil
    }

    // MARK: Signatures (Ed25519)

    public static let signingPublicKeyBytes = Int(crypto_sign_publickeybytes())
    public static let signatureBytes = Int(crypto_sign_bytes())

    /// The Ed25519 key pair derived from a 32-byte `seed` (`crypto_sign_seed_keypair`).
    public static func signingKeyPair(seed: SecretBytes) throws -> (publicKey: [UInt8], secretKey: SecretBytes) {
        try ensureInitialized()
        guard seed.count == Int(crypto_sign_seedbytes()) else { throw AgentError.internal("wrong signing seed length") }
        var pk = [UInt8](repeating: 0, count: signingPublicKeyBytes)
        let sk = SecretBytes(count: Int(crypto_sign_secretkeybytes()))
        let rc = sk.withUnsafeMutableBytes { s in
            seed.withUnsafeBytes { seed in
                crypto_sign_seed_keypair(&pk, s.baseAddress!.assumingMemoryBound(to: UInt8.self),
                                         seed.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
        }
        guard rc == 0 else { throw AgentError.internal("signing key derivation failed") }
        return (pk, sk)
    }

    /// A detached Ed25519 signature of `message`.
    public static func sign(_ message: [UInt8], secretKey: SecretBytes) throws -> [UInt8] {
        try ensureInitialized()
        var signature = [UInt8](repeating: 0, count: signatureBytes)
        let rc = secretKey.withUnsafeBytes { sk in
            crypto_sign_detached(&signature, nil, message, UInt64(message.count), sk.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        guard rc == 0 else { throw AgentError.internal("signing failed") }
        return signature
    }

    /// Whether `signature` is `publicKey`'s Ed25519 signature of `message`.
    public static func verify(_ signature: [UInt8], of message: [UInt8], publicKey: [UInt8]) -> Bool {
        guard (try? ensureInitialized()) != nil, signature.count == signatureBytes,
              publicKey.count == signingPublicKeyBytes else { return false }
        return crypto_sign_verify_detached(signature, message, UInt64(message.count), publicKey) == 0
    }

    // MARK: Hashing and encoding

    /// BLAKE2b of `input`, `length` bytes.
    public static func hash(_ input: [UInt8], length: Int) throws -> [UInt8] {
        try ensureInitialized()
        var out = [UInt8](repeating: 0, count: length)
        _ = crypto_generichash(&out, length, input, UInt64(input.count), nil, 0)
        return out
    }

    /// Keyed BLAKE2b of `input` under `key`, `length` bytes, as a secret (used to derive keys).
    public static func keyedHash(_ input: [UInt8], key: SecretBytes, length: Int) throws -> SecretBytes {
        try ensureInitialized()
        let out = SecretBytes(count: length)
        let rc = out.withUnsafeMutableBytes { o in
            key.withUnsafeBytes { k in
                crypto_generichash(o.baseAddress!.assumingMemoryBound(to: UInt8.self), length, input, UInt64(input.count),
                                   k.baseAddress!.assumingMemoryBound(to: UInt8.self), k.count)
            }
        }
        guard rc == 0 else { throw AgentError.internal("key derivation failed") }
        return out
    }

    /// Constant-time comparison.
    public static func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        a.count == b.count && sodium_memcmp(a, b, a.count) == 0
    }

    public static func wipe(_ bytes: inout [UInt8]) {
        bytes.withUnsafeMutableBytes { wipe($0) }
    }

    /// Wipes an array of words derived from secrets (a search's grams and bitmap).
    public static func wipe<T: BitwiseCopyable>(_ words: inout [T]) {
        words.withUnsafeMutableBytes { wipe($0) }
    }

    static func wipe(_ raw: UnsafeMutableRawBufferPointer) {
        if let base = raw.baseAddress { sodium_memzero(base, raw.count) }
    }

    /// Makes room for `extra` more bytes in `buffer`, which holds secrets: growing copies them
    /// into a larger buffer and wipes the old one instead of leaving them in freed memory.
    static func reserveWiping(_ buffer: inout [UInt8], extra: Int) {
        guard buffer.count + extra > buffer.capacity else { return }
        var larger: [UInt8] = []
        larger.reserveCapacity(max(2 * buffer.capacity, buffer.count + extra))
        larger += buffer
        wipe(&buffer)
        buffer = larger
    }
}
