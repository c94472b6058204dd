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

#endif
