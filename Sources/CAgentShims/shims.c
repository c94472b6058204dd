// Small C helpers: libgit2 option calls, detached background processes, and the socket stream
// that holds remote operations to their deadline.
#define _GNU_SOURCE
#include <git2.h>
#include <git2/sys/stream.h>
#include <libssh2.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "CAgentShims.h"

static int register_deadline_stream(void);

int envagent_git_configure(void) {
    // The agent writes every object a tree or commit references before it, so libgit2's
    // existence re-checks are redundant; reads are verified by git's own fsck and, for values,
    // by the AEAD tag. git does not re-hash objects on read either.
    if (git_libgit2_opts(GIT_OPT_ENABLE_STRICT_OBJECT_CREATION, 0) < 0) return -1;
    if (git_libgit2_opts(GIT_OPT_ENABLE_STRICT_HASH_VERIFICATION, 0) < 0) return -1;
    return register_deadline_stream();
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
// server timeout option arrived in 1.7). Every plain TCP connection it makes (git://, http://,
// the socket under https://, ssh://) is created by the stream registered for
// GIT_STREAM_STANDARD (git_stream_register, <git2/sys/stream.h>). This one connects within the
// calling thread's deadline and, once the deadline passes, shuts its socket down, so whatever
// waits on the socket sees the connection end: libgit2's own reads through this stream, and
// libssh2, which reads and writes the descriptor directly.

#if LIBGIT2_VER_MAJOR != 1 || LIBGIT2_VER_MINOR < 5 || LIBGIT2_VER_MINOR > 9
#error "check that libgit2's git_socket_stream (src/libgit2/streams/socket.h) still starts with parent, host, port, s"
#endif

// The deadline of the operation running on this thread (libgit2 runs a fetch or push on the
// caller's thread, and creates its streams there).
static _Thread_local struct timespec thread_deadline;
static _Thread_local int thread_has_deadline = 0;

void envagent_deadline_begin(long long nanoseconds) {
    if (nanoseconds < 0) nanoseconds = 0;
    clock_gettime(CLOCK_MONOTONIC, &thread_deadline);
    long long end = (long long)thread_deadline.tv_nsec + nanoseconds;
    thread_deadline.tv_sec += (time_t)(end / 1000000000LL);
    thread_deadline.tv_nsec = (long)(end % 1000000000LL);
    thread_has_deadline = 1;
}

void envagent_deadline_end(void) { thread_has_deadline = 0; }

// The first four fields are laid out as libgit2's own socket stream (git_socket_stream in
// src/libgit2/streams/socket.h, the same from 1.5 to 1.9, checked above by version): its SSH
// transport takes the descriptor for libssh2 from that field of whatever the standard stream
// is (GIT_CONTAINER_OF(io, git_socket_stream, parent)->s). The rest is this stream's own.
typedef struct {
    git_stream parent;
    char *host;
    char *port;
    int fd;
    int has_deadline;
    struct timespec deadline;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int closing;
    int watching;
    pthread_t watchdog;
} deadline_stream;

static void set_error(const char *what, const char *host, int code) {
    char message[512];
    snprintf(message, sizeof message, "%s %s%s%s", what, host, code ? ": " : "", code ? strerror(code) : "");
    git_error_set_str(GIT_ERROR_NET, message);
}

// Milliseconds left for poll(): -1 without a deadline, 0 once passed.
static int milliseconds_left(const deadline_stream *st) {
    if (!st->has_deadline) return -1;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long long left = (long long)(st->deadline.tv_sec - now.tv_sec) * 1000 + (st->deadline.tv_nsec - now.tv_nsec) / 1000000;
    return left <= 0 ? 0 : left > 1000000000LL ? 1000000000 : (int)left + 1;
}

static void *watch(void *argument) {
    deadline_stream *st = argument;
    pthread_mutex_lock(&st->lock);
    while (!st->closing) {
        if (pthread_cond_timedwait(&st->changed, &st->lock, &st->deadline) == ETIMEDOUT) {
            if (!st->closing) shutdown(st->fd, SHUT_RDWR);
            break;
        }
    }
    pthread_mutex_unlock(&st->lock);
    return NULL;
}

static void stop_watching(deadline_stream *st) {
    if (!st->watching) return;
    pthread_mutex_lock(&st->lock);
    st->closing = 1;
    pthread_cond_signal(&st->changed);
    pthread_mutex_unlock(&st->lock);
    pthread_join(st->watchdog, NULL);
    st->watching = 0;
}

// One address, non-blocking so that the wait is bounded; the socket is blocking again after.
static int connect_one(deadline_stream *st, const struct addrinfo *address, int *error) {
    int fd = socket(address->ai_family, address->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, address->ai_protocol);
    if (fd < 0) { *error = errno; return -1; }
    if (connect(fd, address->ai_addr, address->ai_addrlen) != 0) {
        if (errno != EINPROGRESS) { *error = errno; close(fd); return -1; }
        struct pollfd wait = {.fd = fd, .events = POLLOUT};
        int ready;
        do { ready = poll(&wait, 1, milliseconds_left(st)); } while (ready < 0 && errno == EINTR);
        int status = 0;
        socklen_t length = sizeof status;
        if (ready <= 0) status = ready == 0 ? ETIMEDOUT : errno;
        else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &status, &length) != 0) status = errno;
        if (status != 0) { *error = status; close(fd); return -1; }
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0) { *error = errno; close(fd); return -1; }
    return fd;
}

// A lookup handed to glibc's resolver thread: it must stay valid until that thread is done.
typedef struct {
    struct gaicb request;
    struct addrinfo hints;
    char *host;
    char *port;
} lookup;

static void free_lookup(lookup *l) {
    free(l->host);
    free(l->port);
    free(l);
}

// getaddrinfo has no timeout: a resolver that never answers holds the caller for as long as
// resolv.conf's timeouts and attempts add up to (30 s and more), past any deadline. With a
// deadline, the lookup runs on glibc's resolver thread (getaddrinfo_a) and is waited for until
// the deadline; one still running then is cancelled, or, when glibc can no longer cancel it,
// left to finish there with its memory (under a kilobyte, once per abandoned lookup).
static int resolve(deadline_stream *st, const struct addrinfo *hints, struct addrinfo **addresses) {
    if (!st->has_deadline) return getaddrinfo(st->host, st->port, hints, addresses);
    lookup *l = calloc(1, sizeof *l);
    if (l == NULL) return EAI_MEMORY;
    l->hints = *hints;
    l->host = strdup(st->host);
    l->port = strdup(st->port);
    if (l->host == NULL || l->port == NULL) { free_lookup(l); return EAI_MEMORY; }
    l->request.ar_name = l->host;
    l->request.ar_service = l->port;
    l->request.ar_request = &l->hints;
    struct gaicb *list[1] = {&l->request};
    int rc = getaddrinfo_a(GAI_NOWAIT, list, 1, NULL);
    if (rc != 0) { free_lookup(l); return rc; }
    while ((rc = gai_error(&l->request)) == EAI_INPROGRESS) {
        int left = milliseconds_left(st);
        if (left == 0) break;
        struct timespec wait = {.tv_sec = left / 1000, .tv_nsec = (long)(left % 1000) * 1000000L};
        gai_suspend((const struct gaicb *const *)list, 1, &wait); // returns on completion, timeout or signal
    }
    if (rc == EAI_INPROGRESS) {
        int cancelled = gai_cancel(&l->request);
        if (cancelled == EAI_ALLDONE && l->request.ar_result != NULL) freeaddrinfo(l->request.ar_result);
        if (cancelled != EAI_NOTCANCELED) free_lookup(l); // else glibc's thread still owns it
        return EAI_AGAIN;
    }
    *addresses = l->request.ar_result;
    free_lookup(l);
    return rc;
}

static int stream_connect(git_stream *stream) {
    deadline_stream *st = (deadline_stream *)stream;
    struct addrinfo hints, *addresses = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_family = AF_UNSPEC;
    int rc = resolve(st, &hints, &addresses);
    if (rc != 0) {
        char message[512];
        snprintf(message, sizeof message, "failed to resolve address for %s: %s", st->host, gai_strerror(rc));
        git_error_set_str(GIT_ERROR_NET, message);
        return -1;
    }
    int error = 0;
    for (struct addrinfo *address = addresses; address != NULL && st->fd < 0; address = address->ai_next) {
        if (milliseconds_left(st) == 0) { error = ETIMEDOUT; break; }
        st->fd = connect_one(st, address, &error);
    }
    freeaddrinfo(addresses);
    if (st->fd < 0) {
        set_error("failed to connect to", st->host, error);
        return -1;
    }
    if (st->has_deadline) {
        st->closing = 0;
        if (pthread_create(&st->watchdog, NULL, watch, st) != 0) {
            set_error("cannot watch the connection to", st->host, errno);
            return -1;
        }
        st->watching = 1;
    }
    return 0;
}

static ssize_t stream_read(git_stream *stream, void *data, size_t length) {
    deadline_stream *st = (deadline_stream *)stream;
    ssize_t count;
    do { count = recv(st->fd, data, length, 0); } while (count < 0 && errno == EINTR);
    if (count < 0) set_error("error receiving data from", st->host, errno);
    return count;
}

static ssize_t stream_write(git_stream *stream, const char *data, size_t length, int flags) {
    deadline_stream *st = (deadline_stream *)stream;
    ssize_t count;
    do { count = send(st->fd, data, length, flags | MSG_NOSIGNAL); } while (count < 0 && errno == EINTR);
    if (count < 0) set_error("error sending data to", st->host, errno);
    return count;
}

static int stream_close(git_stream *stream) {
    deadline_stream *st = (deadline_stream *)stream;
    stop_watching(st);
    int rc = st->fd >= 0 ? close(st->fd) : 0;
    st->fd = -1;
    return rc;
}

static void stream_free(git_stream *stream) {
    deadline_stream *st = (deadline_stream *)stream;
    stream_close(stream);
    pthread_cond_destroy(&st->changed);
    pthread_mutex_destroy(&st->lock);
    free(st->host);
    free(st->port);
    free(st);
}

static int stream_new(git_stream **out, const char *host, const char *port) {
    deadline_stream *st = calloc(1, sizeof *st);
    if (st == NULL) return -1;
    pthread_condattr_t attributes;
    pthread_condattr_init(&attributes);
    pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
    pthread_cond_init(&st->changed, &attributes);
    pthread_condattr_destroy(&attributes);
    pthread_mutex_init(&st->lock, NULL);
    st->host = strdup(host);
    st->port = port ? strdup(port) : NULL;
    st->fd = -1;
    st->has_deadline = thread_has_deadline;
    st->deadline = thread_deadline;
    st->parent.version = GIT_STREAM_VERSION;
    st->parent.connect = stream_connect;
    st->parent.read = stream_read;
    st->parent.write = stream_write;
    st->parent.close = stream_close;
    st->parent.free = stream_free;
    if (st->host == NULL || (port && st->port == NULL)) {
        stream_free(&st->parent);
        return -1;
    }
    *out = &st->parent;
    return 0;
}

static int register_deadline_stream(void) {
    git_stream_registration registration;
    memset(&registration, 0, sizeof registration);
    registration.version = GIT_STREAM_VERSION;
    registration.init = stream_new;
    return git_stream_register(GIT_STREAM_STANDARD, &registration);
}

// known_hosts through libssh2's own parser (plain and HashKnownHosts `|1|` entries, every key
// type it knows); libssh2 is linked like libgit2 (the same library libgit2 uses).
int envagent_knownhost_check(const char *contents, size_t length, const char *host, int port,
                             const char *key, size_t key_length, int key_type, int *known_types) {
    *known_types = 0;
    if (libssh2_init(0) != 0) return LIBSSH2_KNOWNHOST_CHECK_FAILURE;
    LIBSSH2_SESSION *session = libssh2_session_init();
    if (!session) return LIBSSH2_KNOWNHOST_CHECK_FAILURE;
    LIBSSH2_KNOWNHOSTS *hosts = libssh2_knownhost_init(session);
    if (!hosts) { libssh2_session_free(session); return LIBSSH2_KNOWNHOST_CHECK_FAILURE; }
    // Line by line: libssh2_knownhost_readfile stops at the first line it cannot parse (a key
    // type it does not know, a @cert-authority marker), which would hide every later host.
    size_t start = 0;
    while (start < length) {
        const char *newline = memchr(contents + start, '\n', length - start);
        size_t end = newline ? (size_t)(newline - contents) : length;
        if (end > start && contents[start] != '#') {
            (void)libssh2_knownhost_readline(hosts, contents + start, end - start + (newline ? 1 : 0),
                                            LIBSSH2_KNOWNHOST_FILE_OPENSSH);
        }
        start = end + 1;
    }
    int mask = LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW;
    int verdict = libssh2_knownhost_checkp(hosts, host, port, key, key_length,
                                           mask | (key_type << LIBSSH2_KNOWNHOST_KEY_SHIFT), NULL);
    // Which key types the host is known by: a different key of that type is a mismatch.
    static const char other[] = "envagent-not-a-key";
    for (int type = 1; type <= 7; type++) {
        int rc = libssh2_knownhost_checkp(hosts, host, port, other, sizeof other - 1,
                                          mask | (type << LIBSSH2_KNOWNHOST_KEY_SHIFT), NULL);
        if (rc == 0 || rc == 1) *known_types |= 1 << type;
    }
    libssh2_knownhost_free(hosts);
    libssh2_session_free(session);
    return verdict;
}
