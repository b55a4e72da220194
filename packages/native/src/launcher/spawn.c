/* Parent side of a container launch.
 * Everything the child needs is built before clone(); signals are blocked around clone() so no
 * handler of ours runs in the child; the parent writes the id maps and creates one idmapped
 * mount per image layer with the child's user namespace, then hands them over with the go,
 * together with the rootfs directories opened through /proc/<child>/root (see enum rootfs_fd). The
 * handshake socket is CLOEXEC in the child: EOF means execve succeeded.
 * The launch is split at the go: the steps before it are short and done at once; the child's own
 * setup (mounts, pivot_root, execve) takes most of a launch, so the caller watches the handshake
 * socket instead of blocking on it and serves other requests meanwhile. */
#define _GNU_SOURCE
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "container_child.h"
#include "container_mounts.h"
#include "errors.h"
#include "image_layers.h"
#include "state_files.h"
#include "syscalls.h"
#include "veth.h"
#include "write_text.h"

/* No CLONE_NEWCGROUP here: a cgroup namespace is rooted where its creator sits, so the child
 * unshares it after the parent has moved it into the container's cgroups. */
#define NAMESPACE_FLAGS (CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET)

static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

static unsigned long long read_start_time(pid_t pid, bool allow_zombie) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  /* comm may contain spaces and parentheses: fields after it start past the last ')'. */
  char *p = strrchr(buf, ')');
  if (p == NULL) return 0;
  p += 2; /* field 3: state; a zombie is no longer the process we launched */
  if (!allow_zombie && (*p == 'Z' || *p == 'X')) return 0;
  for (int field = 3; field < 22 && p != NULL; field++) {
    p = strchr(p, ' ');
    if (p != NULL) p++;
  }
  return p == NULL ? 0 : strtoull(p, NULL, 10);
}

unsigned long long process_start_time(pid_t pid) { return read_start_time(pid, false); }

static int make_owned_dir(const char *path, mode_t mode, uid_t uid, gid_t gid, bool chown_it) {
  if (mkdir(path, mode) < 0) {
    if (errno != EEXIST) return -1;
  } else if (chmod(path, mode) < 0) { /* the mode asked for, whatever the launcher's umask */
    return -1;
  }
  if (chown_it && chown(path, uid, gid) < 0) return -1;
  return 0;
}

/* Creates the directories the child mounts on; upper and work belong to the container's root.
 * The container directory is 0700 like the rest of the state directory: the child reaches its
 * layers through fds (open_rootfs_fds), and no local user reaches them at all. */
static int prepare_dirs(const struct launch_spec *spec, struct step_error *err) {
  if (make_owned_dir(spec->container_dir, 0700, 0, 0, false) < 0) return step_fail(err, "prepare-dirs", "mkdir", errno);
  if (make_owned_dir(spec->upper_dir, 0755, spec->host_root_uid, spec->host_root_gid, true) < 0)
    return step_fail(err, "prepare-dirs", "chown", errno);
  if (make_owned_dir(spec->work_dir, 0700, spec->host_root_uid, spec->host_root_gid, true) < 0)
    return step_fail(err, "prepare-dirs", "chown", errno);
  if (make_owned_dir(spec->rootfs_dir, 0755, 0, 0, false) < 0) return step_fail(err, "prepare-dirs", "mkdir", errno);
  return 0;
}

static int write_id_maps(pid_t pid, const struct launch_spec *spec, struct step_error *err) {
  char path[64];
  /* gid_map first: once uid_map is written the child could act on its new uid. */
  snprintf(path, sizeof path, "/proc/%d/gid_map", pid);
  if (write_text_file(path, spec->gid_map) < 0) return step_fail(err, "write-gid-map", "write", errno);
  snprintf(path, sizeof path, "/proc/%d/uid_map", pid);
  if (write_text_file(path, spec->uid_map) < 0) return step_fail(err, "write-uid-map", "write", errno);
  return 0;
}

/* Opens, as host root, one of the directories the child builds its rootfs from or on, through
 * /proc/<child>/root so that it belongs to the child's mount namespace (see enum rootfs_fd). */
static int open_in_child(pid_t pid, const char *path, struct step_error *err) {
  char in_child[4200];
  snprintf(in_child, sizeof in_child, "/proc/%d/root%s", pid, path);
  int fd = open(in_child, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) step_fail(err, "open-rootfs-dirs", "open", errno);
  return fd;
}

static void close_all(int fds[ROOTFS_FD_MAX]) {
  for (int i = 0; i < ROOTFS_FD_MAX; i++) close_fd(&fds[i]);
}

/* Fills fds (enum rootfs_fd) for the child. Everything opened is closed again on failure. */
static int open_rootfs_fds(pid_t pid, const struct launch_spec *spec, int fds[ROOTFS_FD_MAX], struct step_error *err) {
  for (int i = 0; i < ROOTFS_FD_MAX; i++) fds[i] = -1;
  const char *paths[ROOTFS_FIRST_LAYER] = {
      [ROOTFS_UPPER] = spec->upper_dir, [ROOTFS_WORK] = spec->work_dir, [ROOTFS_TARGET] = spec->rootfs_dir};
  int failed = open_image_layers(pid, spec, fds + ROOTFS_FIRST_LAYER, err);
  if (failed == 0) failed = open_container_mounts(pid, spec, fds + rootfs_first_mount(spec), err);
  for (int i = 0; i < ROOTFS_FIRST_LAYER && failed == 0; i++) {
    fds[i] = open_in_child(pid, paths[i], err);
    if (fds[i] < 0) failed = -1;
  }
  if (failed < 0) close_all(fds);
  return failed;
}

static int send_go(int sock, const int *fds, int count, struct step_error *err) {
  char byte = 'g';
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
  msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)count);
  struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)count);
  memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * (size_t)count);
  if (sendmsg(sock, &msg, MSG_NOSIGNAL) < 0) return step_fail(err, "send-go", "sendmsg", errno);
  return 0;
}

static int send_byte(int sock, char byte, struct step_error *err) {
  if (send(sock, &byte, 1, MSG_NOSIGNAL) < 0) return step_fail(err, "send-go", "send", errno);
  return 0;
}

/* Reads the child's verdict: EOF is a successful execve, a step_error is a failed step.
 * Called once the loop saw the socket readable, so the read does not block. */
static int read_verdict(int sock, struct step_error *err) {
  struct step_error reported;
  ssize_t n;
  bool reset_seen = false;
  /* A child that failed before it read our second byte leaves it unread: the kernel then reports
   * ECONNRESET once, ahead of the step_error the child queued. Read past it to that report. */
  for (;;) {
    n = read(sock, &reported, sizeof reported);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == ECONNRESET && !reset_seen) {
      reset_seen = true;
      continue;
    }
    break;
  }
  if (n == 0) return 0;
  if (n < 0) return step_fail(err, "await-exec", "read", errno);
  if ((size_t)n < sizeof reported) return step_fail(err, "await-exec", "read", EPROTO);
  *err = reported;
  return -1;
}

static pid_t clone_child(int *pidfd) {
  struct clone_args args;
  memset(&args, 0, sizeof args);
  args.flags = NAMESPACE_FLAGS | CLONE_PIDFD;
  args.pidfd = (uint64_t)(uintptr_t)pidfd;
  args.exit_signal = SIGCHLD;
  pid_t pid = (pid_t)sys_clone3(&args);
  if (pid < 0 && errno == ENOSYS) pid = (pid_t)sys_clone_pidfd(NAMESPACE_FLAGS | SIGCHLD, pidfd);
  return pid;
}

void spawn_container_undo(struct spawned_container *c) {
  close_fd(&c->handshake_fd);
  if (c->pid > 0) {
    /* Killing the child tears down its namespaces and with them every mount it made. */
    sys_pidfd_send_signal(c->pidfd, SIGKILL);
    siginfo_t info;
    waitid(P_PIDFD, (id_t)c->pidfd, &info, WEXITED);
    c->pid = -1;
  }
  close_fd(&c->pidfd);
  run_io_undo(&c->io);
  if (c->cgroups_created) cgroups_remove(&c->cgroups);
  c->cgroups_created = false;
  veth_delete(c->host_ifname); /* the dead netns takes it too, but later: gone now, name free again */
  c->host_ifname[0] = '\0';
}

int spawn_container(struct launch_spec *spec, struct spawned_container *out, struct step_error *err) {
  memset(out, 0, sizeof *out);
  out->pid = -1;
  out->pidfd = -1;
  out->handshake_fd = -1;
  int socks[2] = {-1, -1};
  int rootfs_fds[ROOTFS_FD_MAX];
  for (int i = 0; i < ROOTFS_FD_MAX; i++) rootfs_fds[i] = -1;
  /* Ours are closed on every way out; the child has its own copies (no CLONE_FILES). */
  cleanup_close int log_fd = -1, null_fd = -1, child_sock = -1;
  struct child_stdio child_stdio = {-1, -1, -1};
  bool child_stdio_open = false;
  run_io_init(&out->io); /* every fd -1, so an early failure closes nothing */

  if (prepare_dirs(spec, err) < 0) goto fail;
  log_fd = open(spec->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0640);
  if (log_fd < 0) {
    step_fail(err, "open-log", "open", errno);
    goto fail;
  }
  null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd < 0) {
    step_fail(err, "open-log", "open", errno);
    goto fail;
  }
  if (run_io_open(spec, log_fd, null_fd, &out->io, &child_stdio, err) < 0) goto fail;
  child_stdio_open = true;
  if (cgroups_create(spec, &out->cgroups, err) < 0) goto fail;
  out->cgroups_created = true;
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, socks) < 0) {
    step_fail(err, "handshake", "socketpair", errno);
    goto fail;
  }
  out->handshake_fd = socks[0];
  child_sock = socks[1];

  sigset_t all, previous;
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, &previous);
  pid_t pid = clone_child(&out->pidfd);
  if (pid == 0) {
    close(socks[0]);
    container_child_main(spec, child_sock, &child_stdio);
  }
  int clone_errno = errno;
  sigprocmask(SIG_SETMASK, &previous, NULL);
  /* Our copies would keep the child's EOF from ever reaching us (handshake, stdin, output). */
  close_fd(&child_sock);
  run_io_close_child_ends(&out->io, &child_stdio);
  if (pid < 0) {
    step_fail(err, "clone", "clone3", clone_errno);
    goto fail;
  }
  out->pid = pid;
  if (write_launching_file(spec->container_dir, spec->id, pid, read_start_time(pid, true), &out->cgroups,
                           spec->nesting) < 0) {
    step_fail(err, "launching-record", "write", errno);
    goto fail;
  }

  if (write_id_maps(pid, spec, err) < 0) goto fail;
  if (spec->net.enabled) {
    /* recorded first: a launcher that dies right after the create leaves its successor the name */
    if (write_veth_file(spec->container_dir, spec->net.host_ifname) < 0) {
      step_fail(err, "create-veth", "write", errno);
      goto fail;
    }
    if (veth_create(&spec->net, pid, err) < 0) goto fail;
    memcpy(out->host_ifname, spec->net.host_ifname, sizeof out->host_ifname);
  }
  if (open_rootfs_fds(pid, spec, rootfs_fds, err) < 0) goto fail;
  if (send_go(out->handshake_fd, rootfs_fds, rootfs_fd_count(spec), err) < 0) goto fail;
  /* The child has its own copy of the spec (no CLONE_VM) and of these fds: ours can go. */
  close_all(rootfs_fds);
  /* Moving a task between cgroups waits for the kernel's threadgroup lock (~0.3 ms on cgroup v1),
   * so it is done while the child builds its mounts; the child waits for this second byte before
   * it roots its cgroup namespace and long before it runs anything of the tenant's.
   * A child that already failed has left its report on the socket and is gone (ESRCH, EPIPE):
   * the verdict tells the caller what went wrong, not this step. */
  if (cgroups_attach(&out->cgroups, pid, err) < 0 && err->err != ESRCH) goto fail;
  if (send_byte(out->handshake_fd, 'c', err) < 0 && err->err != EPIPE && err->err != ECONNRESET) goto fail;
  memset(err, 0, sizeof *err);
  return 0;

fail:
  close_all(rootfs_fds);
  if (child_stdio_open) run_io_close_child_ends(&out->io, &child_stdio);
  spawn_container_undo(out);
  return -1;
}

int spawn_container_result(struct spawned_container *c, struct step_error *err) {
  if (read_verdict(c->handshake_fd, err) < 0) {
    spawn_container_undo(c);
    return -1;
  }
  close_fd(&c->handshake_fd);
  c->start_time = read_start_time(c->pid, true); /* our child: may already have exited (/bin/true) */
  return 0;
}
