#define _GNU_SOURCE
/* The container's first process, from clone() to execve().
 * Only async-signal-safe calls and raw syscalls: the spec was built before clone() and the child
 * never allocates. Every failure is reported as {step, syscall, errno} through the CLOEXEC
 * handshake socket; a successful execve closes it, which the parent reads as success. */
#include "container_child.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "confinement.h"
#include "container_init.h"
#include "container_mounts.h"
#include "container_net.h"
#include "errors.h"
#include "syscalls.h"

#define CHECK(call, step, name)                               \
  do {                                                        \
    if ((call) < 0) child_fail(handshake_fd, (step), (name)); \
  } while (0)

/* Only the mask needs clearing (spawn_container blocks every signal around clone). Dispositions
 * need no reset here: the launcher set every signal to its default when it started (whatever
 * Node left it) and installs no handler and ignores no signal since (it reads SIGCHLD from a
 * signalfd), and execve resets handlers anyway. That saves ~60 syscalls on every launch, which
 * pays for part of the confinement below. */
static void reset_signals(void) {
  sigset_t none;
  sigemptyset(&none);
  sys_sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Waits until the parent wrote the id maps; receives the rootfs fds (enum rootfs_fd) with the go. */
static void await_go(const struct launch_spec *spec, int handshake_fd, int fds[ROOTFS_FD_MAX]) {
  char byte;
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE(sizeof(int) * ROOTFS_FD_MAX)];
  } control;
  memset(&control, 0, sizeof control);
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.buf;
  msg.msg_controllen = sizeof control.buf;
  ssize_t n;
  do n = recvmsg(handshake_fd, &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n < 0) child_fail(handshake_fd, "await-parent", "recvmsg");
  if (n == 0) _exit(127); /* parent gave up */
  size_t count = (size_t)rootfs_fd_count(spec);
  struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
  if (cmsg == NULL || (msg.msg_flags & MSG_CTRUNC) || cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS ||
      cmsg->cmsg_len != CMSG_LEN(sizeof(int) * count)) {
    errno = EPROTO;
    child_fail(handshake_fd, "await-parent", "recvmsg");
  }
  memcpy(fds, CMSG_DATA(cmsg), sizeof(int) * count);
}

/* Waits until the parent has moved this process into the container's cgroups (it does so after
 * the go, while we mount), then roots the cgroup namespace there. */
static void enter_cgroup_namespace(int handshake_fd) {
  char byte;
  ssize_t n;
  do n = read(handshake_fd, &byte, 1);
  while (n < 0 && errno == EINTR);
  if (n < 0) child_fail(handshake_fd, "await-cgroups", "read");
  if (n == 0) _exit(127); /* parent gave up */
  if (byte != 'c') {
    errno = EPROTO;
    child_fail(handshake_fd, "await-cgroups", "read");
  }
  CHECK(unshare(CLONE_NEWCGROUP), "cgroup-namespace", "unshare");
}

/* Becomes root of the new user namespace (host uid = the slice's base) with no supplementary groups. */
static void become_namespace_root(int handshake_fd) {
  CHECK(sys_setgroups_none(), "set-ids", "setgroups");
  CHECK(sys_setresgid(0, 0, 0), "set-ids", "setresgid");
  CHECK(sys_setresuid(0, 0, 0), "set-ids", "setresuid");
}

/* Becomes the image's user (its User, or the create's): the last step before execve, after the
 * capabilities are set, since leaving uid 0 clears them, as Docker does for a non-root user. */
static void become_run_user(const struct launch_spec *spec, int handshake_fd) {
  if (spec->run_uid == 0 && spec->run_gid == 0) return;
  CHECK(sys_setresgid(spec->run_gid, spec->run_gid, spec->run_gid), "set-run-user", "setresgid");
  CHECK(sys_setresuid(spec->run_uid, spec->run_uid, spec->run_uid), "set-run-user", "setresuid");
}

/* "/proc/self/fd/<fd>": a path to what fd refers to whose walk does not check the ancestors'
 * search permission (the state directory is 0700 and this process is the container's host uid). */
static void fd_path(char out[32], int fd) {
  char digits[12];
  int n = 0;
  do digits[n++] = (char)('0' + fd % 10);
  while ((fd /= 10) > 0 && n < (int)sizeof digits);
  copy_text(out, 32, "/proc/self/fd/");
  size_t len = sizeof "/proc/self/fd/" - 1;
  while (n > 0) out[len++] = digits[--n];
  out[len] = '\0';
}

/* Builds the overlay from the launcher's fds and enters it. Layers are given to overlay as fds
 * ("lowerdir+", appended topmost first like lowerdir=a:b), so a layer needs no mountpoint and no
 * move_mount of its own; O_PATH fds and detached mounts as layers need Linux 6.15, and an older
 * kernel fails the launch at step "stack-layers". The overlay is mounted by the container's root
 * in its own user namespace, where trusted.* xattrs cannot be read or written: "userxattr" makes
 * overlay keep its opaque marks (read from the layers, written in the upper layer when a merged
 * directory is replaced) in user.overlay.* instead. Whiteouts are 0:0 character devices and need
 * no xattr. The new mount API attaches the overlay by fd and lets us fchdir into the new mount
 * itself (a walk through a magic link to the mountpoint would land on the directory below it). */
static void mount_rootfs(const struct launch_spec *spec, int handshake_fd, const int fds[ROOTFS_FD_MAX]) {
  CHECK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), "make-mounts-private", "mount");
  char upper[32], work[32];
  fd_path(upper, fds[ROOTFS_UPPER]);
  fd_path(work, fds[ROOTFS_WORK]);
  int fs_fd = sys_fsopen("overlay", FSOPEN_CLOEXEC);
  CHECK(fs_fd, "mount-rootfs-overlay", "fsopen");
  for (int i = 0; i < spec->layer_count; i++)
    CHECK(sys_fsconfig(fs_fd, FSCONFIG_SET_FD, "lowerdir+", NULL, fds[ROOTFS_FIRST_LAYER + i]), "stack-layers",
          "fsconfig");
  CHECK(sys_fsconfig(fs_fd, FSCONFIG_SET_STRING, "upperdir", upper, 0), "mount-rootfs-overlay", "fsconfig");
  CHECK(sys_fsconfig(fs_fd, FSCONFIG_SET_STRING, "workdir", work, 0), "mount-rootfs-overlay", "fsconfig");
  CHECK(sys_fsconfig(fs_fd, FSCONFIG_SET_FLAG, "userxattr", NULL, 0), "mount-rootfs-overlay", "fsconfig");
  CHECK(sys_fsconfig(fs_fd, FSCONFIG_CMD_CREATE, NULL, NULL, 0), "mount-rootfs-overlay", "fsconfig");
  int mount_fd = sys_fsmount(fs_fd, FSMOUNT_CLOEXEC, MOUNT_ATTR_NODEV);
  CHECK(mount_fd, "mount-rootfs-overlay", "fsmount");
  CHECK(sys_move_mount(mount_fd, "", fds[ROOTFS_TARGET], "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH),
        "mount-rootfs-overlay", "move_mount");
  CHECK(fchdir(mount_fd), "enter-rootfs", "fchdir");
  child_attach_mounts(spec, handshake_fd, mount_fd, fds + rootfs_first_mount(spec));
  close(mount_fd);
  close(fs_fd);
  /* fds of host directories: the container must never hold one (openat escapes through it). */
  for (int i = 0; i < rootfs_fd_count(spec); i++) close(fds[i]);
}

static int ensure_file(const char *path) {
  int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) return -1;
  close(fd);
  return 0;
}

static int ensure_dir(const char *path, mode_t mode) {
  if (mkdir(path, mode) < 0 && errno != EEXIST) return -1;
  return 0;
}

/* Mounts /proc, /sys and /dev relative to the new root while the old root is still attached:
 * the kernel allows a new proc/sysfs only while a fully visible one exists in the namespace. */
static void mount_kernel_filesystems(int handshake_fd) {
  static const char *const devices[] = {"null", "zero", "full", "random", "urandom", "tty"};
  const unsigned long hardened = MS_NOSUID | MS_NODEV | MS_NOEXEC;

  CHECK(ensure_dir("proc", 0555), "mount-proc", "mkdir");
  CHECK(mount("proc", "proc", "proc", hardened, NULL), "mount-proc", "mount");
  CHECK(ensure_dir("sys", 0555), "mount-sys", "mkdir");
  CHECK(mount("sysfs", "sys", "sysfs", hardened | MS_RDONLY, NULL), "mount-sys", "mount");

  CHECK(ensure_dir("dev", 0755), "mount-dev", "mkdir");
  CHECK(mount("tmpfs", "dev", "tmpfs", MS_NOSUID | MS_NOEXEC | MS_STRICTATIME, "mode=755,size=65536k"), "mount-dev",
        "mount");
  char target[32];
  for (size_t i = 0; i < sizeof devices / sizeof devices[0]; i++) {
    char source[32];
    copy_text(source, sizeof source, "/dev/");
    copy_text(source + 5, sizeof source - 5, devices[i]);
    copy_text(target, sizeof target, "dev/");
    copy_text(target + 4, sizeof target - 4, devices[i]);
    CHECK(ensure_file(target), "bind-devices", "open");
    CHECK(mount(source, target, NULL, MS_BIND, NULL), "bind-devices", "mount");
  }
  CHECK(ensure_dir("dev/pts", 0755), "mount-devpts", "mkdir");
  CHECK(mount("devpts", "dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620"),
        "mount-devpts", "mount");
  CHECK(symlink("pts/ptmx", "dev/ptmx"), "mount-devpts", "symlink");
  CHECK(ensure_dir("dev/shm", 01777), "mount-devshm", "mkdir");
  CHECK(mount("shm", "dev/shm", "tmpfs", hardened, "mode=1777,size=65536k"), "mount-devshm", "mount");
  CHECK(symlink("/proc/self/fd", "dev/fd"), "link-dev-fd", "symlink");
  CHECK(symlink("/proc/self/fd/0", "dev/stdin"), "link-dev-fd", "symlink");
  CHECK(symlink("/proc/self/fd/1", "dev/stdout"), "link-dev-fd", "symlink");
  CHECK(symlink("/proc/self/fd/2", "dev/stderr"), "link-dev-fd", "symlink");
}

static void set_identity(const struct launch_spec *spec, int handshake_fd) {
  CHECK(sethostname(spec->hostname, strlen(spec->hostname)), "set-hostname", "sethostname");
  int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  CHECK(sock, "loopback-up", "socket");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  copy_text(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
  CHECK(ioctl(sock, SIOCGIFFLAGS, &ifr), "loopback-up", "ioctl");
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  CHECK(ioctl(sock, SIOCSIFFLAGS, &ifr), "loopback-up", "ioctl");
  close(sock);
  if (spec->net.enabled) child_configure_network(&spec->net, handshake_fd);
}

static void pivot_into_rootfs(int handshake_fd) {
  /* pivot_root(".", ".") stacks the old root on the new one; detaching "." then drops it. */
  CHECK(sys_pivot_root(".", "."), "pivot-root", "pivot_root");
  CHECK(umount2(".", MNT_DETACH), "detach-old-root", "umount2");
  CHECK(chdir("/"), "detach-old-root", "chdir");
}

/* Hides host information that /proc and /sys expose even inside namespaces. */
static void mask_host_paths(int handshake_fd) {
  static const char *const masked_files[] = {"/proc/kcore",       "/proc/keys",          "/proc/timer_list",
                                             "/proc/sched_debug", "/proc/latency_stats", "/proc/sysrq-trigger"};
  static const char *const masked_dirs[] = {"/proc/acpi", "/proc/scsi", "/sys/firmware"};
  static const char *const readonly_dirs[] = {"/proc/sys", "/proc/irq", "/proc/bus"};
  const unsigned long hardened = MS_NOSUID | MS_NODEV | MS_NOEXEC;
  struct stat st;
  for (size_t i = 0; i < sizeof masked_files / sizeof masked_files[0]; i++) {
    if (stat(masked_files[i], &st) < 0) continue;
    CHECK(mount("/dev/null", masked_files[i], NULL, MS_BIND, NULL), "mask-proc", "mount");
  }
  for (size_t i = 0; i < sizeof masked_dirs / sizeof masked_dirs[0]; i++) {
    if (stat(masked_dirs[i], &st) < 0) continue;
    CHECK(mount("tmpfs", masked_dirs[i], "tmpfs", hardened | MS_RDONLY, "size=0"), "mask-proc", "mount");
  }
  for (size_t i = 0; i < sizeof readonly_dirs / sizeof readonly_dirs[0]; i++) {
    if (stat(readonly_dirs[i], &st) < 0) continue;
    CHECK(mount(readonly_dirs[i], readonly_dirs[i], NULL, MS_BIND | MS_REC, NULL), "readonly-proc", "mount");
    CHECK(mount(NULL, readonly_dirs[i], NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | hardened, NULL), "readonly-proc",
          "mount");
  }
}

static void lower_rlimits(const struct launch_spec *spec, int handshake_fd) {
  for (int i = 0; i < spec->rlimit_count; i++) {
    struct rlimit current;
    CHECK(sys_prlimit(spec->rlimits[i].resource, NULL, &current), "set-rlimits", "prlimit64");
    rlim_t value = (rlim_t)spec->rlimits[i].value;
    if (value > current.rlim_max) value = current.rlim_max; /* lowered only: never above the hard limit */
    struct rlimit wanted = {.rlim_cur = value, .rlim_max = value};
    CHECK(sys_prlimit(spec->rlimits[i].resource, &wanted, NULL), "set-rlimits", "prlimit64");
  }
}

/* Node marks fds 0-2 close-on-exec; install our own and mark every other inherited fd CLOEXEC. */
static void install_stdio(int handshake_fd, const struct child_stdio *stdio) {
  CHECK(dup2(stdio->in, 0), "install-stdio", "dup2");
  CHECK(dup2(stdio->out, 1), "install-stdio", "dup2");
  CHECK(dup2(stdio->err, 2), "install-stdio", "dup2");
  if (sys_close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
    for (int fd = 3; fd < 1024; fd++)
      if (fd != handshake_fd) fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
}

static void exec_argv(const struct launch_spec *spec, int handshake_fd) {
  child_exec_init(spec, handshake_fd); /* returns only without an init */
  child_exec_or_fail(spec->exec_candidates, spec->argv, spec->envp, handshake_fd);
}

/* Everything else this child inherited belongs to the launcher: its lock, its listening socket,
 * its clients' sockets, other launches' fds and other runs' pipes. All are close-on-exec, but
 * until the exec a launcher that died would stay reachable and locked through us, no new one
 * could start, and another run's stdin would not see its EOF. */
static void close_launcher_fds(int handshake_fd, const struct child_stdio *stdio) {
  int keep[] = {handshake_fd, stdio->in, stdio->out, stdio->err}; /* out and err may be one log fd */
  close_fds_except(keep, sizeof keep / sizeof keep[0]);
}

void container_child_main(const struct launch_spec *spec, int handshake_fd, const struct child_stdio *stdio) {
  reset_signals();
  close_launcher_fds(handshake_fd, stdio);
  /* Root of its new user namespace already (the bounding set only limits what execve grants):
   * done now, while the parent writes the id maps, rather than on the way to execve. */
  child_drop_bounding_set(handshake_fd);
  int rootfs_fds[ROOTFS_FD_MAX];
  await_go(spec, handshake_fd, rootfs_fds);
  become_namespace_root(handshake_fd);
  mount_rootfs(spec, handshake_fd, rootfs_fds);
  child_mount_init(spec, handshake_fd);
  mount_kernel_filesystems(handshake_fd);
  set_identity(spec, handshake_fd);
  pivot_into_rootfs(handshake_fd);
  if (spec->net.enabled) child_write_network_files(&spec->net, handshake_fd);
  mask_host_paths(handshake_fd);
  CHECK(chdir(spec->cwd), "enter-cwd", "chdir");
  lower_rlimits(spec, handshake_fd);
  install_stdio(handshake_fd, stdio);
  enter_cgroup_namespace(handshake_fd);
  child_confine(spec->nesting, handshake_fd);
  become_run_user(spec, handshake_fd);
  exec_argv(spec, handshake_fd);
  _exit(127);
}
