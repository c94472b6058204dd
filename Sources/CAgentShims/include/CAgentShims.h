#ifndef ENVAGENT_SHIMS_H
#define ENVAGENT_SHIMS_H

#include <stddef.h>

/// Sets libgit2's global options that `git_libgit2_opts` (variadic, not importable into Swift)
/// controls. Returns 0 on success.
int envagent_git_configure(void);

/// Loads the CA certificates whose parsing was deferred at `git_libgit2_init`. Call before
/// any TLS connection; until then the trust store is empty, so TLS fails closed.
/// Returns 0 on success, or the mbedTLS error code.
int envagent_load_ca_certificates(void);

/// 1 while CA loading is deferred (nothing loaded yet), 0 once loaded or when nothing was deferred.
int envagent_ca_certificates_deferred(void);

/// Starts `path` with `argv` (NULL-terminated) and `envp` as a detached background process: its
/// own session, standard streams on /dev/null, every other inherited descriptor closed (so it
/// never holds a caller's pipes open), default signal handling. The caller does not wait for it.
/// Returns its pid, or -1.
int envagent_spawn_detached(const char *path, char *const argv[], char *const envp[]);

/// Makes the calling thread's blocking calls (connect, recv, poll, ...) fail with EINTR from
/// `nanoseconds` from now until `envagent_deadline_disarm`: a timer sends a signal with a
/// no-op handler (installed without SA_RESTART) to this thread only, repeated every 50 ms so
/// that a call entered just after one signal is still interrupted. Other threads, and other
/// operations' deadlines, are not affected. Returns a handle, or NULL when no timer could be
/// created.
void *envagent_deadline_arm(long long nanoseconds);

/// Stops the timer of `envagent_deadline_arm` (NULL is ignored), discards a signal it may have
/// left pending, and restores the thread's signal mask.
void envagent_deadline_disarm(void *deadline);

/// 1 once the calling thread's armed deadline has fired, else 0.
int envagent_deadline_fired(void);

/// Checks `key` (the raw key blob) of `host` on `port` against the OpenSSH known_hosts text
/// `contents` with libssh2's parser: plain and hashed (`|1|`) entries, every key type libssh2
/// knows. `key_type` is libssh2's LIBSSH2_KNOWNHOST_KEY_* number (2 ssh-rsa, 3 ssh-dss, 4/5/6
/// ecdsa 256/384/521, 7 ed25519). Returns 0 (match), 1 (the host has another key of this
/// type), 2 (not found) or 3 (libssh2 unavailable); `*known_types` gets bit (1 << type) for
/// every key type the host is known by.
int envagent_knownhost_check(const char *contents, size_t length, const char *host, int port,
                             const char *key, size_t key_length, int key_type, int *known_types);

#endif
