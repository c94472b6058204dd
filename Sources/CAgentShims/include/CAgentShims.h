#ifndef ENVAGENT_SHIMS_H
#define ENVAGENT_SHIMS_H

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

#endif
