#!/usr/bin/env python3
"""Writes Tests/Vectors/*.txt from docs/format.md, with PyNaCl (pip install pynacl).

An implementation of the store format independent of the Swift code: the Swift tests check
that EnvAgentCore agrees with every vector. Run by hand when the format changes (nonces and
sealed boxes are random, so each run writes different but equally valid vectors); CI only
reads the committed files.

Every key in the vectors is a fixed TEST FIXTURE derived from a public label, never a real key.
"""
import base64
import hashlib
import os
import sys

import nacl.bindings as s

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "Vectors")
STORE = "c3RvcmUtZm9yLXZlY3RvcnM"  # base64url of "store-for-vectors"
ENV = "dev"


def fixture(label: str) -> bytes:
    """32 bytes from a public label: test fixtures only."""
    return hashlib.blake2b(b"envagent test fixture " + label.encode(), digest_size=32).digest()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def key_text(pk: bytes) -> str:
    checksum = hashlib.blake2b(b"agent-pub-" + pk, digest_size=4).digest()
    return "agent-pub-" + base64.urlsafe_b64encode(pk + checksum).decode().rstrip("=")


def derive(label: str, key: bytes, env: str = ENV, store: str = STORE) -> bytes:
    return hashlib.blake2b(f"{label}\0{store}\0{env}".encode(), key=key, digest_size=32).digest()


def sealing_pair(key: bytes, env: str = ENV):
    return s.crypto_box_seed_keypair(derive("envagent/sealing-key/v1", key, env))


def signing_pair(key: bytes, env: str = ENV):
    return s.crypto_sign_seed_keypair(derive("envagent/signing-key/v1", key, env))


def ad(name: str, env_var: str, env: str = ENV, store: str = STORE, version: int = 2) -> bytes:
    data = f"envagent/value/v{version}\0{store}\0{env}\0{name}".encode()
    return data + (b"\0" + env_var.encode() if version >= 2 else b"")


def sign(message: bytes, secret: bytes) -> bytes:
    return s.crypto_sign(message, secret)[:64]


def endorsement(old: bytes, new: bytes, env: str = ENV) -> str:
    old_pk, old_sk = signing_pair(old, env)
    new_pk = signing_pair(new, env)[0]
    sig = sign(f"envagent/endorse/v1\0{STORE}\0{env}\0".encode() + new_pk, old_sk)
    return f"endorsement {b64(old_pk)} {b64(new_pk)} {b64(sig)}\n"


def recipients(key: bytes, members, endorsements=(), env: str = ENV, extra_before_signature: str = "") -> str:
    sign_pk, sign_sk = signing_pair(key, env)
    lines = ["# EnvAgent recipients, signed by the environment's members: edit only with `agent recipients`\n",
             f"signing-key {b64(sign_pk)}\n", f"public-key {key_text(sealing_pair(key, env)[0])}\n"]
    for pk, label in sorted(members, key=lambda m: key_text(m[0])):
        wrapped = s.crypto_box_seal(key, pk)
        lines.append(f"recipient {key_text(pk)} {b64(wrapped)}" + (f" {label}" if label else "") + "\n")
    lines += sorted(endorsements, key=lambda e: e.split(" ")[1:3])
    body = ("".join(lines) + extra_before_signature).encode()
    sig = sign(f"envagent/recipients/v2\0{STORE}\0{env}\0".encode() + body, sign_sk)
    return body.decode() + f"signature {b64(sig)}\n"


def member_value(key: bytes, value: str, name: str, env_var: str, **ad_args) -> str:
    nonce = os.urandom(24)
    sealed = s.crypto_aead_xchacha20poly1305_ietf_encrypt(value.encode(), ad(name, env_var, **ad_args), nonce, key)
    return "a:" + b64(nonce + sealed)


def write_only_value(key: bytes, value: str, name: str, env_var: str) -> str:
    digest = hashlib.blake2b(ad(name, env_var), digest_size=32).digest()
    return "s:" + b64(s.crypto_box_seal(digest + value.encode(), sealing_pair(key)[0]))


def line(name: str, env_var: str, sealed: str) -> str:
    return f"{name} {env_var} 2026-11-26T15:54:37Z 2026-11-27T09:00:00Z {sealed}\n"


def write(name: str, headers: dict, body: str = ""):
    with open(os.path.join(OUT, name + ".txt"), "w") as f:
        f.write("".join(f"{k}: {v}\n" for k, v in headers.items()) + "\n" + body)


def main():
    os.makedirs(OUT, exist_ok=True)
    k1, k2, mallory_key = fixture("environment key 1"), fixture("environment key 2"), fixture("mallory's key")
    alice_sk = fixture("alice identity")
    alice_pk = s.crypto_scalarmult_base(alice_sk)
    bob_pk = s.crypto_scalarmult_base(fixture("bob identity"))
    mallory_pk = s.crypto_scalarmult_base(fixture("mallory identity"))
    common = {"store-id": STORE, "environment": ENV}
    members = [(alice_pk, "alice"), (bob_pk, None)]

    write("derive", {"kind": "derivation", **common, "environment-key": k1.hex(),
                     "sealing-public-key": key_text(sealing_pair(k1)[0]),
                     "signing-public-key": b64(signing_pair(k1)[0]),
                     "name": "DATABASE_URL", "env-var": "DB_URL",
                     "associated-data": ad("DATABASE_URL", "DB_URL").hex(),
                     "associated-data-v1": ad("DATABASE_URL", "DB_URL", version=1).hex()})

    valid = recipients(k1, members)
    rec = {"kind": "recipients", **common, "identity-secret-key": alice_sk.hex(), "environment-key": k1.hex()}
    write("recipients-valid", {**rec, "expect": "trusted"}, valid)
    write("recipients-pinned-same-key", {**rec, "pin": b64(signing_pair(k1)[0]), "expect": "trusted"}, valid)
    write("recipients-other-environment", {**rec, "environment": "prod", "expect": "untrusted"}, valid)
    forged = valid.replace("\nsignature ", f"\nrecipient {key_text(mallory_pk)} {b64(bytes(80))} mallory\nsignature ")
    write("recipients-added-recipient", {**rec, "expect": "untrusted"}, forged)
    write("recipients-after-signature", {**rec, "expect": "malformed"},
          valid + f"recipient {key_text(mallory_pk)} {b64(bytes(80))}\n")
    public_key_line = f"public-key {key_text(sealing_pair(k1)[0])}"
    write("recipients-forged-public-key", {**rec, "expect": "untrusted"},
          valid.replace(public_key_line, f"public-key {key_text(mallory_pk)}"))
    write("recipients-unsigned", {**rec, "pin": b64(signing_pair(k1)[0]), "expect": "untrusted"},
          "".join(l + "\n" for l in valid.splitlines() if not l.startswith(("signing-key", "signature"))))
    rotated = recipients(k2, members, [endorsement(k1, k2)])
    write("recipients-rotated", {**rec, "environment-key": k2.hex(), "pin": b64(signing_pair(k1)[0]), "expect": "trusted"},
          rotated)
    replaced = recipients(mallory_key, members + [(mallory_pk, "mallory")])
    write("recipients-replaced-key", {**rec, "environment-key": mallory_key.hex(), "pin": b64(signing_pair(k1)[0]),
                                      "expect": "untrusted"}, replaced)
    # An endorsement line that claims k1 vouches for mallory's key, signed by mallory's own key.
    bad = endorsement(mallory_key, mallory_key).split(" ")
    fake = f"endorsement {b64(signing_pair(k1)[0])} {bad[2]} {bad[3]}"
    write("recipients-forged-endorsement", {**rec, "environment-key": mallory_key.hex(), "pin": b64(signing_pair(k1)[0]),
                                            "expect": "untrusted"},
          recipients(mallory_key, members, [fake]))
    # base-for: the members' signed agreement that another environment may build on this one.
    agreed = recipients(k1, members, extra_before_signature="base-for prod\nbase-for staging\n")
    write("recipients-base-for", {**rec, "base-for": "prod,staging", "expect": "trusted"}, agreed)
    write("recipients-base-for-added", {**rec, "expect": "untrusted"},
          valid.replace("\nsignature ", "\nbase-for prod\nsignature "))
    write("recipients-base-for-itself", {**rec, "expect": "malformed"},
          recipients(k1, members, extra_before_signature="base-for dev\n"))
    write("recipients-base-for-twice", {**rec, "expect": "malformed"},
          recipients(k1, members, extra_before_signature="base-for prod\nbase-for prod\n"))

    value = "postgres://app:pa55-w0rd@db.internal:5432/app"
    lines = {"kind": "line", **common, "environment-key": k1.hex()}
    sealed = member_value(k1, value, "DATABASE_URL", "DB_URL")
    write("line-member", {**lines, "expect": "success", "value": value}, line("DATABASE_URL", "DB_URL", sealed))
    write("line-write-only", {**lines, "expect": "success", "value": value},
          line("DATABASE_URL", "DB_URL", write_only_value(k1, value, "DATABASE_URL", "DB_URL")))
    write("line-moved-to-other-name", {**lines, "expect": "bad_ciphertext"}, line("OTHER", "DB_URL", sealed))
    write("line-mapped-to-other-env-var", {**lines, "expect": "bad_ciphertext"}, line("DATABASE_URL", "LD_PRELOAD", sealed))
    write("line-write-only-remapped", {**lines, "expect": "bad_ciphertext"},
          line("DATABASE_URL", "PATH", write_only_value(k1, value, "DATABASE_URL", "DB_URL")))
    write("line-other-store", {**lines, "expect": "bad_ciphertext"},
          line("DATABASE_URL", "DB_URL", member_value(k1, value, "DATABASE_URL", "DB_URL", store="another-store")))
    write("line-other-environment", {**lines, "expect": "bad_ciphertext"},
          line("DATABASE_URL", "DB_URL", member_value(k1, value, "DATABASE_URL", "DB_URL", env="prod")))
    write("line-format-1-associated-data", {**lines, "expect": "bad_ciphertext"},
          line("DATABASE_URL", "DB_URL", member_value(k1, value, "DATABASE_URL", "DB_URL", version=1)))
    raw = base64.b64decode(sealed[2:])
    write("line-truncated", {**lines, "expect": "bad_ciphertext"}, line("DATABASE_URL", "DB_URL", "a:" + b64(raw[:-1])))
    flipped = raw[:30] + bytes([raw[30] ^ 1]) + raw[31:]
    write("line-bit-flipped", {**lines, "expect": "bad_ciphertext"}, line("DATABASE_URL", "DB_URL", "a:" + b64(flipped)))
    write("line-not-base64", {**lines, "expect": "bad_ciphertext"}, line("DATABASE_URL", "DB_URL", "a:!!" + sealed[4:]))
    write("line-other-key", {**lines, "expect": "bad_ciphertext"},
          line("DATABASE_URL", "DB_URL", member_value(k2, value, "DATABASE_URL", "DB_URL")))
    # Whole secrets files against the read rules (an empty `expect` list: readable).
    files = {"kind": "secrets-file", **common, "environment-key": k1.hex()}
    ok = line("API_KEY", "API_KEY", member_value(k1, "sk-1", "API_KEY", "API_KEY"))
    write("secrets-readable", {**files, "expect": ""},
          ok + line("LOADER", "LD_PRELOAD", member_value(k1, "/opt/lib/libx.so", "LOADER", "LD_PRELOAD")))
    write("secrets-env-var-not-a-name", {**files, "expect": "bad_line"},
          ok + line("B", "X=$(id)", member_value(k1, "b", "B", "X=$(id)")))
    write("secrets-duplicate-env-var", {**files, "expect": "duplicate_env_var"},
          ok + line("OTHER", "API_KEY", member_value(k1, "o", "OTHER", "API_KEY")))
    write("secrets-duplicate-name", {**files, "expect": "duplicate_name"}, ok + ok)
    write("secrets-write-only-execution-env-var", {**files, "expect": "restricted_env_var"},
          ok + line("PRELOAD", "LD_PRELOAD", write_only_value(k1, "/tmp/evil.so", "PRELOAD", "LD_PRELOAD")))
    write("secrets-four-fields", {**files, "expect": "bad_line"}, ok + "BROKEN API_URL 2026-11-26T15:54:37Z a:AAAA\n")
    print(f"wrote vectors to {os.path.normpath(OUT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
