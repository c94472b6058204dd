#ifndef ENVAGENT_LIBGIT2_LOADER_H
#define ENVAGENT_LIBGIT2_LOADER_H

#include <stddef.h>

/// Loads libgit2 (once; later calls return the first outcome). Returns 0 when it is loaded, else
/// -1 with a message naming the library and dlerror() in `message` (always NUL-terminated).
int envagent_libgit2_load(char *message, size_t size);

/// libgit2's function `name`, loading the library first. Prints the reason and aborts when
/// the library or the function is missing: the stubs have no way to report an error, so
/// callers should call envagent_libgit2_load first and report its message.
void *envagent_libgit2_symbol(const char *name);

#endif
