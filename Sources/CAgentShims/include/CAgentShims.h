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

#endif
