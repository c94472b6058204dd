// For the generated stubs: libgit2's declarations and a per-function cache of its address.
#ifndef ENVAGENT_LIBGIT2_STUBS_H
#define ENVAGENT_LIBGIT2_STUBS_H

#include <git2.h>
#include <git2/sys/odb_backend.h>
#include "CLibgit2Loader.h"

static inline void *envagent_libgit2_cached(void **slot, const char *name) {
    void *function = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (function == NULL) {
        function = envagent_libgit2_symbol(name);
        __atomic_store_n(slot, function, __ATOMIC_RELEASE);
    }
    return function;
}

/// The real `name`, typed as its declaration in <git2.h>.
#define ENVAGENT_LIBGIT2(name) \
    ((__typeof__(&name))({ static void *slot; envagent_libgit2_cached(&slot, #name); }))

#endif
