/* The container's init (see container_init.h). The request part runs in the launcher; the child
 * parts run between clone() and execve() and make only raw syscalls on what the spec holds. */
#define _GNU_SOURCE
#include "container_init.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "errors.h"
#include "syscalls.h"

#define CHECK(call, syscall_name)                                           \
  do {                                                                      \
    if ((call) < 0) child_fail(handshake_fd, "mount-init", (syscall_name)); \
  } while (0)

int init_spec_from_message(const struct message *m, struct launch_spec *spec, struct step_error *err) {
  const char *host_path = message_get(m, "init");
  if (host_path == NULL) return 0;
  if (host_path[0] != '/') return step_fail(err, "parse-request", "init", EINVAL);
  int argc = 0;
  while (spec->argv[argc] != NULL) argc++;
  char **init_argv = calloc((size_t)argc + 3, sizeof *init_argv);
  if (init_argv == NULL) abort();
  init_argv[0] = CONTAINER_INIT_PATH;
  init_argv[1] = "--"; /* everything after it is the command, never tini's own options */
  for (int i = 0; i < argc; i++) init_argv[i + 2] = spec->argv[i];
  spec->init_host_path = host_path;
  spec->init_argv = init_argv;
  return 0;
}

static int openat2_in(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve) {
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = flags;
  how.mode = mode;
  how.resolve = resolve;
  int fd;
  do fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
  while (fd < 0 && errno == EAGAIN);
  return fd;
}

/* The image's /sbin, resolved as the container would see it (a symlink such as sbin -> usr/sbin
 * stays beneath the rootfs, an absolute one is taken relative to it); made if it is missing. */
static int open_sbin(int root_fd, int handshake_fd) {
  const uint64_t resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
  int fd = openat2_in(root_fd, "sbin", O_PATH | O_DIRECTORY | O_CLOEXEC, 0, resolve);
  if (fd < 0 && errno == ENOENT) {
    CHECK(mkdirat(root_fd, "sbin", 0755), "mkdirat");
    fd = openat2_in(root_fd, "sbin", O_PATH | O_DIRECTORY | O_CLOEXEC, 0, resolve);
  }
  CHECK(fd, "openat2");
  return fd;
}

void child_mount_init(const struct launch_spec *spec, int handshake_fd) {
  if (spec->init_host_path == NULL) return;
  /* Cloned while the host's root is still this process's root; made read-only, nosuid and nodev
   * before it is attached. The file stays the host's (root-owned, so nobody inside): the
   * container's root can neither write through the mount nor chmod or replace what it shows. */
  int tree_fd = sys_open_tree(AT_FDCWD, spec->init_host_path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
  CHECK(tree_fd, "open_tree");
  struct stat st;
  CHECK(fstat(tree_fd, &st), "fstat");
  if (!S_ISREG(st.st_mode)) {
    errno = EINVAL;
    child_fail(handshake_fd, "mount-init", "open_tree");
  }
  struct mount_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
  CHECK(sys_mount_setattr(tree_fd, "", AT_EMPTY_PATH, &attr), "mount_setattr");

  int root_fd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC); /* the overlay, entered by mount_rootfs */
  CHECK(root_fd, "open");
  int sbin_fd = open_sbin(root_fd, handshake_fd);
  /* The mountpoint: an empty file of ours, or the image's own regular file. Never a symlink's
   * target (O_NOFOLLOW), never a fifo we would block on (O_NONBLOCK), never a device (nodev). */
  int target_fd = openat2_in(sbin_fd, "nagaya-init", O_RDONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0755,
                             RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV);
  CHECK(target_fd, "openat2");
  CHECK(fstat(target_fd, &st), "fstat");
  if (!S_ISREG(st.st_mode)) {
    errno = EEXIST;
    child_fail(handshake_fd, "mount-init", "openat2");
  }
  CHECK(sys_move_mount(tree_fd, "", target_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH), "move_mount");
  close(target_fd);
  close(sbin_fd);
  close(root_fd);
  close(tree_fd);
}

/* What execve would say about a path, without running it: 0, or the errno it would fail with. */
static int exec_problem(const char *path) {
  struct stat st;
  if (stat(path, &st) < 0) return errno;
  if (!S_ISREG(st.st_mode)) return EACCES;
  if (access(path, X_OK) < 0) return errno; /* also EACCES on a noexec mount */
  return 0;
}

void child_exec_init(const struct launch_spec *spec, int handshake_fd) {
  if (spec->init_argv == NULL) return;
  /* The same search as child_exec_or_fail, and the same verdict: the first error other than
   * ENOENT, if no candidate will do. The init then runs argv as given (its execvp searches the
   * same PATH), so the command sees the argv[0] it was given. */
  int first_error = ENOENT, problem = ENOENT;
  for (int i = 0; spec->exec_candidates[i] != NULL && problem != 0; i++) {
    problem = exec_problem(spec->exec_candidates[i]);
    if (problem != 0 && problem != ENOENT && first_error == ENOENT) first_error = problem;
  }
  if (problem != 0) {
    errno = first_error;
    child_fail(handshake_fd, "exec", "execve");
  }
  execve(CONTAINER_INIT_PATH, spec->init_argv, spec->envp);
  child_fail(handshake_fd, "exec-init", "execve");
}
