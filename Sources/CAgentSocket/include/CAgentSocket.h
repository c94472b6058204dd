#ifndef CAGENTSOCKET_H
#define CAGENTSOCKET_H
#include <stddef.h>
#include <sys/types.h>

/// Sends `length` bytes with `count` file descriptors attached (SCM_RIGHTS). Returns the bytes
/// sent, or -1 with errno set. The control-message macros are not importable into Swift.
ssize_t agent_socket_send_fds(int socket, const void *bytes, size_t length, const int *fds, int count);

/// Receives up to `length` bytes and up to `capacity` descriptors (close-on-exec); `*count` is set
/// to the number received. Returns the bytes received (0 at end of stream), or -1 with errno.
ssize_t agent_socket_receive_fds(int socket, void *bytes, size_t length, int *fds, int capacity, int *count);

/// The uid and pid of the process at the other end of a connected Unix socket (SO_PEERCRED).
int agent_socket_peer(int socket, uid_t *uid, pid_t *pid);


/// The process environment (`environ`, which Swift 6 cannot reference).
char **agent_environment(void);

/// Replaces the process with `file` (searched in PATH) with exactly `envp` as its environment.
/// Returns only on failure, with errno set.
int agent_exec(const char *file, char *const argv[], char *const envp[]);

/// Client side: on SIGINT, SIGTERM, SIGHUP or SIGQUIT, writes a cancel frame carrying the
/// signal to `socket` (async-signal-safe) instead of dying, so the agent stops the request.
void agent_forward_signals(int socket);

/// Unblocks every signal: a process started by a program that blocked some (test runners,
/// supervisors) must still stop on SIGTERM and be interruptible.
int agent_unblock_signals(void);

/// Agent side, in a request's process: SIGKILL when the agent dies, so a killed agent never
/// leaves requests running that nobody waits for.
int agent_die_with_parent(void);
#endif
