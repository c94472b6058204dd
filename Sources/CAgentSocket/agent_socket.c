#define _GNU_SOURCE
#include "CAgentSocket.h"
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <signal.h>
#include <sys/prctl.h>

enum { max_fds = 8 };

ssize_t agent_socket_send_fds(int socket, const void *bytes, size_t length, const int *fds, int count) {
    if (count < 0 || count > max_fds) { errno = EINVAL; return -1; }
    union { struct cmsghdr header; char space[CMSG_SPACE(sizeof(int) * max_fds)]; } control;
    memset(&control, 0, sizeof control);
    struct iovec iov = { .iov_base = (void *)bytes, .iov_len = length };
    struct msghdr message = { .msg_iov = &iov, .msg_iovlen = 1 };
    if (count > 0) {
        message.msg_control = control.space;
        message.msg_controllen = CMSG_SPACE(sizeof(int) * count);
        struct cmsghdr *header = CMSG_FIRSTHDR(&message);
        header->cmsg_level = SOL_SOCKET;
        header->cmsg_type = SCM_RIGHTS;
        header->cmsg_len = CMSG_LEN(sizeof(int) * count);
        memcpy(CMSG_DATA(header), fds, sizeof(int) * count);
    }
    ssize_t sent;
    do { sent = sendmsg(socket, &message, MSG_NOSIGNAL); } while (sent < 0 && errno == EINTR);
    return sent;
}

ssize_t agent_socket_receive_fds(int socket, void *bytes, size_t length, int *fds, int capacity, int *count) {
    union { struct cmsghdr header; char space[CMSG_SPACE(sizeof(int) * max_fds)]; } control;
    struct iovec iov = { .iov_base = bytes, .iov_len = length };
    struct msghdr message = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.space,
                              .msg_controllen = sizeof control.space };
    *count = 0;
    ssize_t received;
    do { received = recvmsg(socket, &message, MSG_CMSG_CLOEXEC); } while (received < 0 && errno == EINTR);
    if (received < 0) return -1;
    for (struct cmsghdr *header = CMSG_FIRSTHDR(&message); header; header = CMSG_NXTHDR(&message, header)) {
        if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) continue;
        int n = (int)((header->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        int *received_fds = (int *)CMSG_DATA(header);
        for (int i = 0; i < n; i++) {
            if (*count < capacity) fds[(*count)++] = received_fds[i];
            else close(received_fds[i]);
        }
    }
    return received;
}

int agent_socket_peer(int socket, uid_t *uid, pid_t *pid) {
    struct ucred credentials;
    socklen_t size = sizeof credentials;
    if (getsockopt(socket, SOL_SOCKET, SO_PEERCRED, &credentials, &size) != 0) return -1;
    *uid = credentials.uid;
    *pid = credentials.pid;
    return 0;
}

extern char **environ;

char **agent_environment(void) { return environ; }

int agent_exec(const char *file, char *const argv[], char *const envp[]) {
    return execvpe(file, argv, envp);
}

static volatile sig_atomic_t forward_socket = -1;

static void forward_signal(int signal) {
    int saved = errno;
    /* WireFrame.cancel, length 4, the signal (little-endian). */
    unsigned char frame[9] = { 0x43, 4, 0, 0, 0,
        (unsigned char)signal, (unsigned char)(signal >> 8), (unsigned char)(signal >> 16), (unsigned char)(signal >> 24) };
    if (forward_socket >= 0) (void)send(forward_socket, frame, sizeof frame, MSG_NOSIGNAL);
    errno = saved;
}

void agent_forward_signals(int socket) {
    forward_socket = socket;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = forward_signal;
    action.sa_flags = SA_RESTART;
    sigemptyset(&action.sa_mask);
    int signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
    sigset_t forwarded;
    sigemptyset(&forwarded);
    for (unsigned i = 0; i < sizeof signals / sizeof *signals; i++) {
        sigaction(signals[i], &action, NULL);
        sigaddset(&forwarded, signals[i]);
    }
    sigprocmask(SIG_UNBLOCK, &forwarded, NULL);
}

int agent_unblock_signals(void) {
    sigset_t none;
    sigemptyset(&none);
    return sigprocmask(SIG_SETMASK, &none, NULL);
}

int agent_die_with_parent(void) {
    return prctl(PR_SET_PDEATHSIG, SIGKILL);
}
