/* Raw syscall wrappers used by the launcher.
 * The child of clone() may only make async-signal-safe calls, and glibc's setgroups/setresuid
 * broadcast to every thread and take locks; raw syscalls avoid both. Wrappers for the new mount
 * API and pidfds are here too because glibc 2.36 lacks some and we want one spelling. */
#ifndef NAGAYA_SYSCALLS_H
#define NAGAYA_SYSCALLS_H

#define _GNU_SOURCE
#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif

static inline long sys_clone3(struct clone_args *args) { return syscall(SYS_clone3, args, sizeof(*args)); }

/* clone() without a new stack behaves like fork(); CLONE_PIDFD stores the pidfd in parent_tid. */
static inline long sys_clone_pidfd(unsigned long flags, int *pidfd) {
  return syscall(SYS_clone, flags | CLONE_PIDFD, 0, pidfd, 0, 0);
}

static inline int sys_setgroups_none(void) { return (int)syscall(SYS_setgroups, 0, 0); }
static inline int sys_setresuid(uid_t r, uid_t e, uid_t s) { return (int)syscall(SYS_setresuid, r, e, s); }
static inline int sys_setresgid(gid_t r, gid_t e, gid_t s) { return (int)syscall(SYS_setresgid, r, e, s); }
static inline int sys_pivot_root(const char *new_root, const char *put_old) {
  return (int)syscall(SYS_pivot_root, new_root, put_old);
}
static inline int sys_close_range(unsigned first, unsigned last, unsigned flags) {
  return (int)syscall(SYS_close_range, first, last, flags);
}
/* Closes every fd from 3 up except those in keep (count of them, in any order, -1 and
 * duplicates allowed; keep is sorted in place). Async-signal-safe: for a child after clone. */
static inline void close_fds_except(int *keep, int count) {
  for (int i = 0; i < count; i++)
    for (int j = i + 1; j < count; j++)
      if (keep[j] < keep[i]) {
        int t = keep[i];
        keep[i] = keep[j];
        keep[j] = t;
      }
  unsigned first = 3;
  for (int i = 0; i < count; i++) {
    if (keep[i] < (int)first) continue;
    if ((unsigned)keep[i] > first) sys_close_range(first, (unsigned)keep[i] - 1, 0);
    first = (unsigned)keep[i] + 1;
  }
  sys_close_range(first, ~0U, 0);
}
static inline int sys_open_tree(int dfd, const char *path, unsigned flags) {
  return (int)syscall(SYS_open_tree, dfd, path, flags);
}
static inline int sys_move_mount(int from_dfd, const char *from, int to_dfd, const char *to, unsigned flags) {
  return (int)syscall(SYS_move_mount, from_dfd, from, to_dfd, to, flags);
}
static inline int sys_mount_setattr(int dfd, const char *path, unsigned flags, struct mount_attr *attr) {
  return (int)syscall(SYS_mount_setattr, dfd, path, flags, attr, sizeof(*attr));
}
static inline int sys_fsopen(const char *fs_name, unsigned flags) { return (int)syscall(SYS_fsopen, fs_name, flags); }
static inline int sys_fsconfig(int fd, unsigned cmd, const char *key, const void *value, int aux) {
  return (int)syscall(SYS_fsconfig, fd, cmd, key, value, aux);
}
static inline int sys_fsmount(int fd, unsigned flags, unsigned attr_flags) {
  return (int)syscall(SYS_fsmount, fd, flags, attr_flags);
}
static inline int sys_pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }
static inline int sys_pidfd_send_signal(int pidfd, int sig) {
  return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, 0, 0);
}
static inline int sys_setns(int fd, int nstype) { return (int)syscall(SYS_setns, fd, nstype); }
static inline int sys_prlimit(int resource, const void *new_limit, void *old_limit) {
  return (int)syscall(SYS_prlimit64, 0, resource, new_limit, old_limit);
}
static inline int sys_sigprocmask(int how, const sigset_t *set, sigset_t *old) {
  /* The kernel's sigset is 8 bytes on x86_64; glibc's sigset_t is larger but starts with it. */
  return (int)syscall(SYS_rt_sigprocmask, how, set, old, 8);
}

#endif
