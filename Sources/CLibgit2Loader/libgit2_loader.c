// libgit2 is loaded with dlopen on first use instead of being linked, because Debian's
// libgit2 pulls in 19 shared libraries (OpenSSL's libcrypto through libssh2, mbedTLS,
// Kerberos, ...) whose loading and relocation cost about 2 ms on every start, more than a
// whole `git rev-parse`. Commands that never touch git (and the git hooks' no-op check) skip
// it; every other command pays the same as before. libgit2_stubs.c (generated) defines each
// libgit2 function EnvAgent calls as a forward to the loaded library.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <git2/version.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "CLibgit2Loader.h"

// The soname of the ABI the headers describe: a different libgit2 version is never loaded.
#if defined(__APPLE__)
#define LIBGIT2_LIBRARY "libgit2." LIBGIT2_SOVERSION ".dylib"
#else
#define LIBGIT2_LIBRARY "libgit2.so." LIBGIT2_SOVERSION
#endif

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static void *library = NULL;
static char load_error[512];

static void load(void) {
    // RTLD_GLOBAL: the CA-deferral shim (CAgentShims) finds mbedTLS's real function with
    // dlsym(RTLD_NEXT, ...), which searches the global scope only.
    library = dlopen(LIBGIT2_LIBRARY, RTLD_LAZY | RTLD_GLOBAL);
    if (library == NULL) {
        const char *reason = dlerror();
        snprintf(load_error, sizeof load_error,
                 "cannot load libgit2 %s (%s): %s; install the libgit2 %s runtime library (Debian: apt-get install libgit2-%s)",
                 LIBGIT2_VERSION, LIBGIT2_LIBRARY, reason ? reason : "unknown error", LIBGIT2_SOVERSION, LIBGIT2_SOVERSION);
    }
}

int envagent_libgit2_load(char *message, size_t size) {
    pthread_once(&load_once, load);
    if (library != NULL) return 0;
    if (size > 0) {
        strncpy(message, load_error, size - 1);
        message[size - 1] = 0;
    }
    return -1;
}

void *envagent_libgit2_symbol(const char *name) {
    pthread_once(&load_once, load);
    void *function = library ? dlsym(library, name) : NULL;
    if (function == NULL) {
        fprintf(stderr, "agent: %s\n", library ? "libgit2 lacks a function EnvAgent needs" : load_error);
        if (library) fprintf(stderr, "agent: missing: %s\n", name);
        abort();
    }
    return function;
}
