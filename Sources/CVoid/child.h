// The child stage's shared pieces (child.c runs the program, child_mounts.c does the mounts).
#ifndef CVOID_CHILD_H
#define CVOID_CHILD_H

#include "cvoid.h"
#include "internal.h"

// The instructions of the child being run; set once, right after clone3.
extern const struct void_child *void_C;
// The host's /dev/null, opened in the child's namespace (VOID_DO_OPEN_HOST_NULL): the source
// for masking a file. -1 until then.
extern int void_devnull_fd;

int void_report_detail(int step, int err, int index, int detail);
__attribute__((noreturn)) void void_fail(int step, int index);
#define CHECK(expr, step, index) do { if ((expr) < 0) void_fail((step), (index)); } while (0)

int void_move_mount_fd(int from, int to_dfd, const char *to_path, unsigned int flags);
// See child_mounts.c.
int void_open_dest(int rootfd, const char *rel, int want_dir, int *symlink_hit);
void void_do_mount(int rootfd, int imagefd, int i);
void void_do_mount_if_absent(int rootfd, int imagefd, int i);

#endif
