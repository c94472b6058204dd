// Small C helpers: libgit2 option calls, deferred CA loading, and detached background processes.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <git2.h>
#include <fcntl.h>
#include "CLibgit2Loader.h"
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stddef.h>
#include "CAgentShims.h"

int envagent_git_configure(void) {
    // git_libgit2_opts is variadic, so it has no forwarding stub: call the loaded one directly.
    int (*git_libgit2_opts)(int, ...) = (int (*)(int, ...))envagent_libgit2_symbol("git_libgit2_opts");
    // The agent writes every object a tree or commit references before it, so libgit2's
    // existence re-checks are redundant; reads are verified by git's own fsck and, for values,
    // by the AEAD tag. git does not re-hash objects on read either.
    if (git_libgit2_opts(GIT_OPT_ENABLE_STRICT_OBJECT_CREATION, 0) < 0) return -1;
    if (git_libgit2_opts(GIT_OPT_ENABLE_STRICT_HASH_VERIFICATION, 0) < 0) return -1;
    return 0;
}

// Debian's libgit2 (mbedTLS backend) parses the whole system CA bundle inside
// git_libgit2_init(), about 3.4 ms on every start although most commands never open a TLS
// connection. This definition takes precedence over libmbedx509's for calls from libgit2: it
// records the chain and path instead, and envagent_load_ca_certificates() parses them with the
// real function when a TLS connection is about to be made. Until then the chain is empty, so
// certificate verification fails closed.
typedef int (*parse_file_fn)(void *chain, const char *path);

static pthread_mutex_t ca_lock = PTHREAD_MUTEX_INITIALIZER;
static void *deferred_chain = NULL;
static char deferred_path[4096];
static int loading_enabled = 0;

static parse_file_fn real_parse_file(void) {
    return (parse_file_fn)dlsym(RTLD_NEXT, "mbedtls_x509_crt_parse_file");
}

int mbedtls_x509_crt_parse_file(void *chain, const char *path) {
    pthread_mutex_lock(&ca_lock);
    int defer = !loading_enabled && deferred_chain == NULL;
    if (defer) {
        deferred_chain = chain;
        size_t i = 0;
        for (; path[i] != 0 && i + 1 < sizeof(deferred_path); i++) deferred_path[i] = path[i];
        deferred_path[i] = 0;
    }
    pthread_mutex_unlock(&ca_lock);
    if (defer) return 0;
    parse_file_fn real = real_parse_file();
    return real ? real(chain, path) : -1;
}

int envagent_load_ca_certificates(void) {
    pthread_mutex_lock(&ca_lock);
    loading_enabled = 1;
    void *chain = deferred_chain;
    deferred_chain = NULL;
    pthread_mutex_unlock(&ca_lock);
    if (chain == NULL) return 0;
    parse_file_fn real = real_parse_file();
    return real ? real(chain, deferred_path) : -1;
}

int envagent_ca_certificates_deferred(void) {
    pthread_mutex_lock(&ca_lock);
    int deferred = deferred_chain != NULL;
    pthread_mutex_unlock(&ca_lock);
    return deferred;
}

int envagent_spawn_detached(const char *path, char *const argv[], char *const envp[]) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    if (posix_spawn_file_actions_init(&actions) != 0) return -1;
    if (posix_spawnattr_init(&attributes) != 0) {
        posix_spawn_file_actions_destroy(&actions);
        return -1;
    }
    int rc = posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    if (rc == 0) rc = posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    if (rc == 0) rc = posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    if (rc == 0) rc = posix_spawn_file_actions_addclosefrom_np(&actions, 3);
    sigset_t empty, defaults;
    sigemptyset(&empty);
    sigfillset(&defaults);
    if (rc == 0) rc = posix_spawnattr_setsigmask(&attributes, &empty);
    if (rc == 0) rc = posix_spawnattr_setsigdefault(&attributes, &defaults);
    if (rc == 0) rc = posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    pid_t pid = -1;
    if (rc == 0) rc = posix_spawn(&pid, path, &actions, &attributes, argv, envp);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
    return rc == 0 ? (int)pid : -1;
}
