#include <git2.h>
// git_odb_backend's layout (to free a backend the odb did not take).
#include <git2/sys/odb_backend.h>
