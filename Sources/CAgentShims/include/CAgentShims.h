#ifndef ENVAGENT_SHIMS_H
#define ENVAGENT_SHIMS_H

#include <stddef.h>

/// Sets libgit2's global options that `git_libgit2_opts` (variadic, not importable into Swift)
/// controls, and registers the socket stream that keeps remote operations to their deadline
/// (see `envagent_deadline_begin`). Call once, after `git_libgit2_init`. Returns 0 on success.
int envagent_git_configure(void);

/// Starts `path` with `argv` (NULL-terminated) and `envp` as a detached background process: its
/// own session, standard streams on /dev/null, every other inherited descriptor closed (so it
/// never holds a caller's pipes open), default signal handling. The caller does not wait for it.
/// Returns its pid, or -1.
int envagent_spawn_detached(const char *path, char *const argv[], char *const envp[]);

/// Gives the remote connections that libgit2 opens on the calling thread from now until
/// `envagent_deadline_end` a deadline `nanoseconds` from now: connecting waits at most until
/// then, and at the deadline the connection's socket is shut down, so a peer that stops
/// answering ends the operation. Other threads are not affected.
void envagent_deadline_begin(long long nanoseconds);

/// Ends the calling thread's deadline (connections opened later have none).
void envagent_deadline_end(void);

/// Checks `key` (the raw key blob) of `host` on `port` against the OpenSSH known_hosts text
/// `contents` with libssh2's parser: plain and hashed (`|1|`) entries, every key type libssh2
/// knows. `key_type` is libssh2's LIBSSH2_KNOWNHOST_KEY_* number (2 ssh-rsa, 3 ssh-dss, 4/5/6
/// ecdsa 256/384/521, 7 ed25519). Returns 0 (match), 1 (the host has another key of this
/// type), 2 (not found) or 3 (libssh2 unavailable); `*known_types` gets bit (1 << type) for
/// every key type the host is known by.
int envagent_knownhost_check(const char *contents, size_t length, const char *host, int port,
                             const char *key, size_t key_length, int key_type, int *known_types);

#endif
