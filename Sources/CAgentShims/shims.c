// Small C helpers: libgit2 option calls, deferred CA loading, detached background processes,
// and per-thread deadlines for blocking network calls.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <git2.h>
#include <fcntl.h>
#include "CLibgit2Loader.h"
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
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

// Per-operation deadlines. libgit2 1.5 has no timeout for a peer that stops answering (the
// server timeout option arrived in 1.7), and its callbacks only run between reads, so a silent
// peer is cut off by interrupting the one thread that waits for it.
static _Thread_local volatile sig_atomic_t deadline_fired = 0;

static void on_deadline_signal(int signal_number) {
    (void)signal_number;
    deadline_fired = 1;
}

static int deadline_signal(void) { return SIGRTMIN + 3; }

static pthread_once_t deadline_handler_once = PTHREAD_ONCE_INIT;
static int deadline_handler_installed = 0;

static void install_deadline_handler(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_deadline_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0; // no SA_RESTART: the blocked call must return EINTR
    deadline_handler_installed = sigaction(deadline_signal(), &action, NULL) == 0;
}

struct envagent_deadline {
    timer_t timer;
    sigset_t previous_mask;
};

void *envagent_deadline_arm(long long nanoseconds) {
    pthread_once(&deadline_handler_once, install_deadline_handler);
    if (!deadline_handler_installed) return NULL;
    struct envagent_deadline *deadline = calloc(1, sizeof *deadline);
    if (deadline == NULL) return NULL;
    struct sigevent event;
    memset(&event, 0, sizeof event);
    event.sigev_notify = SIGEV_THREAD_ID;
    event.sigev_signo = deadline_signal();
    event._sigev_un._tid = gettid();
    if (timer_create(CLOCK_MONOTONIC, &event, &deadline->timer) != 0) {
        free(deadline);
        return NULL;
    }
    deadline_fired = 0;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, deadline_signal());
    pthread_sigmask(SIG_UNBLOCK, &set, &deadline->previous_mask);
    if (nanoseconds < 1) nanoseconds = 1;
    struct itimerspec when;
    when.it_value.tv_sec = (time_t)(nanoseconds / 1000000000LL);
    when.it_value.tv_nsec = (long)(nanoseconds % 1000000000LL);
    when.it_interval.tv_sec = 0;
    when.it_interval.tv_nsec = 50 * 1000 * 1000;
    if (timer_settime(deadline->timer, 0, &when, NULL) != 0) {
        envagent_deadline_disarm(deadline);
        return NULL;
    }
    return deadline;
}

void envagent_deadline_disarm(void *handle) {
    struct envagent_deadline *deadline = handle;
    if (deadline == NULL) return;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, deadline_signal());
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    timer_delete(deadline->timer);
    // A signal still queued for this thread must not interrupt a later, unrelated call.
    struct timespec now = {0, 0};
    while (sigtimedwait(&set, NULL, &now) > 0) {}
    pthread_sigmask(SIG_SETMASK, &deadline->previous_mask, NULL);
    deadline_fired = 0;
    free(deadline);
}

int envagent_deadline_fired(void) { return deadline_fired ? 1 : 0; }

// libssh2's return codes (libssh2.h), so that its headers are not needed to build.
#define SSH_ERROR_SOCKET_DISCONNECT (-13)
#define SSH_ERROR_TIMEOUT (-9)
#define SSH_ERROR_EAGAIN (-37)

// libgit2 1.5 repeats the SSH handshake and authentication calls while they report
// LIBSSH2_ERROR_TIMEOUT, which is also what libssh2 reports when the deadline's signal
// interrupts its poll: a peer that never sends its banner would be waited for until it hangs
// up. These definitions take precedence over libssh2's for libgit2 (the executable exports
// them) and, once the calling thread's deadline fired, report a lost connection instead.
static int ended_by_deadline(int rc) {
    return deadline_fired && (rc == SSH_ERROR_TIMEOUT || rc == SSH_ERROR_EAGAIN) ? SSH_ERROR_SOCKET_DISCONNECT : rc;
}

static void *libssh2_function(const char *name) { return dlsym(RTLD_NEXT, name); }

int libssh2_session_handshake(void *session, int socket) {
    int (*real)(void *, int) = (int (*)(void *, int))libssh2_function("libssh2_session_handshake");
    return real ? ended_by_deadline(real(session, socket)) : SSH_ERROR_SOCKET_DISCONNECT;
}

int libssh2_userauth_publickey_fromfile_ex(void *session, const char *username, unsigned int username_length,
                                           const char *public_key, const char *private_key, const char *passphrase) {
    int (*real)(void *, const char *, unsigned int, const char *, const char *, const char *) =
        (int (*)(void *, const char *, unsigned int, const char *, const char *, const char *))
            libssh2_function("libssh2_userauth_publickey_fromfile_ex");
    return real ? ended_by_deadline(real(session, username, username_length, public_key, private_key, passphrase))
                : SSH_ERROR_SOCKET_DISCONNECT;
}

int libssh2_agent_userauth(void *agent, const char *username, void *identity) {
    int (*real)(void *, const char *, void *) = (int (*)(void *, const char *, void *))libssh2_function("libssh2_agent_userauth");
    return real ? ended_by_deadline(real(agent, username, identity)) : SSH_ERROR_SOCKET_DISCONNECT;
}

// known_hosts through libssh2's own parser (plain and HashKnownHosts `|1|` entries, every key
// type it knows), reached like the wrappers above: the libssh2 that libgit2 loaded.
#define KNOWNHOST_TYPE_PLAIN 1
#define KNOWNHOST_KEYENC_RAW (1 << 16)
#define KNOWNHOST_KEY_SHIFT 18
#define KNOWNHOST_FILE_OPENSSH 1
#define KNOWNHOST_CHECK_FAILURE 3

typedef struct {
    int (*init)(int);
    void *(*session_init_ex)(void *, void *, void *, void *);
    int (*session_free)(void *);
    void *(*knownhost_init)(void *);
    int (*knownhost_readline)(void *, const char *, size_t, int);
    int (*knownhost_checkp)(void *, const char *, int, const char *, size_t, int, void **);
    void (*knownhost_free)(void *);
} knownhost_api;

static int knownhost_load_api(knownhost_api *api) {
    void *library = dlopen("libssh2.so.1", RTLD_NOW | RTLD_NOLOAD);
    if (!library) library = dlopen("libssh2.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!library) return -1;
    api->init = (int (*)(int))dlsym(library, "libssh2_init");
    api->session_init_ex = (void *(*)(void *, void *, void *, void *))dlsym(library, "libssh2_session_init_ex");
    api->session_free = (int (*)(void *))dlsym(library, "libssh2_session_free");
    api->knownhost_init = (void *(*)(void *))dlsym(library, "libssh2_knownhost_init");
    api->knownhost_readline = (int (*)(void *, const char *, size_t, int))dlsym(library, "libssh2_knownhost_readline");
    api->knownhost_checkp = (int (*)(void *, const char *, int, const char *, size_t, int, void **))
        dlsym(library, "libssh2_knownhost_checkp");
    api->knownhost_free = (void (*)(void *))dlsym(library, "libssh2_knownhost_free");
    return api->init && api->session_init_ex && api->session_free && api->knownhost_init && api->knownhost_readline
        && api->knownhost_checkp && api->knownhost_free ? 0 : -1;
}

int envagent_knownhost_check(const char *contents, size_t length, const char *host, int port,
                             const char *key, size_t key_length, int key_type, int *known_types) {
    *known_types = 0;
    knownhost_api api;
    if (knownhost_load_api(&api) != 0 || api.init(0) != 0) return KNOWNHOST_CHECK_FAILURE;
    void *session = api.session_init_ex(NULL, NULL, NULL, NULL);
    if (!session) return KNOWNHOST_CHECK_FAILURE;
    void *hosts = api.knownhost_init(session);
    if (!hosts) { api.session_free(session); return KNOWNHOST_CHECK_FAILURE; }
    // Line by line: libssh2_knownhost_readfile stops at the first line it cannot parse (a key
    // type it does not know, a @cert-authority marker), which would hide every later host.
    size_t start = 0;
    while (start < length) {
        const char *newline = memchr(contents + start, '\n', length - start);
        size_t end = newline ? (size_t)(newline - contents) : length;
        if (end > start && contents[start] != '#') {
            (void)api.knownhost_readline(hosts, contents + start, end - start + (newline ? 1 : 0), KNOWNHOST_FILE_OPENSSH);
        }
        start = end + 1;
    }
    int mask = KNOWNHOST_TYPE_PLAIN | KNOWNHOST_KEYENC_RAW;
    int verdict = api.knownhost_checkp(hosts, host, port, key, key_length, mask | (key_type << KNOWNHOST_KEY_SHIFT), NULL);
    // Which key types the host is known by: a different key of that type is a mismatch.
    static const char other[] = "envagent-not-a-key";
    for (int type = 1; type <= 7; type++) {
        int rc = api.knownhost_checkp(hosts, host, port, other, sizeof other - 1, mask | (type << KNOWNHOST_KEY_SHIFT), NULL);
        if (rc == 0 || rc == 1) *known_types |= 1 << type;
    }
    api.knownhost_free(hosts);
    api.session_free(session);
    return verdict;
}
