/* Running a command inside a running container.
 * A helper process forked by the launcher joins the container's cgroups (writing "0" moves the
 * writer), then every namespace at once with setns(pidfd), becomes the namespace's root and
 * forks the command, which is the one that lands in the container's pid namespace. The helper
 * waits for it and exits the same way, so the launcher sees the command's status on the
 * helper's pidfd. The command dies with the helper (PDEATHSIG), which is how a timeout kills it.
 * The command is confined as the container's first process was (capabilities, seccomp) before
 * it execs. Nothing is opened by path inside the container before that: the container owns
 * those paths, and its /dev/null may be a FIFO that blocks an open forever.
 * A tty session is the exception: its pty must belong to the container's devpts (owned by the
 * container's root, seen as /dev/pts/N inside), so the helper opens /dev/pts/ptmx once it is in
 * the container's mount namespace, resolved beneath its root with no symlinks, non-blocking, and
 * checked to be a ptmx of a devpts before it is used. The slave comes from TIOCGPTPEER (no path);
 * the master goes back to the launcher over a socketpair (SCM_RIGHTS). */
#define _GNU_SOURCE
#include "exec_session.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <linux/openat2.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "confinement.h"
#include "errors.h"
#include "syscalls.h"

#define JOIN_FLAGS \
  (CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWCGROUP)

#define CHECK(call, step, name)                           \
  do {                                                    \
    if ((call) < 0) child_fail(error_fd, (step), (name)); \
  } while (0)

static int join_cgroup(const char *dir) {
  char path[640];
  size_t n = strlen(dir);
  if (n + sizeof "/cgroup.procs" > sizeof path) return -1;
  memcpy(path, dir, n);
  memcpy(path + n, "/cgroup.procs", sizeof "/cgroup.procs");
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t w = write(fd, "0", 1);
  close(fd);
  return w < 0 ? -1 : 0;
}

#define DEVPTS_MAGIC 0x1cd1
#define PTMX_MAJOR 5
#define PTMX_MINOR 2

/* The container's /dev/pts/ptmx (we are in its mount namespace), refused unless it is what it says. */
static int open_container_ptmx(void) {
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  int fd = (int)syscall(SYS_openat2, AT_FDCWD, "/dev/pts/ptmx", &how, sizeof how);
  if (fd < 0) return -1;
  struct stat st;
  struct statfs fs;
  if (fstat(fd, &st) < 0 || fstatfs(fd, &fs) < 0 || !S_ISCHR(st.st_mode) || major(st.st_rdev) != PTMX_MAJOR ||
      minor(st.st_rdev) != PTMX_MINOR || fs.f_type != DEVPTS_MAGIC) {
    close(fd);
    errno = ENOTTY;
    return -1;
  }
  return fd;
}

static int send_fd(int socket_fd, int fd) {
  char byte = 0;
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  char control[CMSG_SPACE(sizeof(int))];
  memset(control, 0, sizeof control);
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
  struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(cmsg), &fd, sizeof fd);
  return sendmsg(socket_fd, &msg, MSG_NOSIGNAL) == 1 ? 0 : -1;
}

/* The fd the helper sent, or -1 once it is gone without sending one (it reported why on its error pipe). */
static int receive_fd(int socket_fd) {
  char byte;
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  char control[CMSG_SPACE(sizeof(int))];
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
  ssize_t n;
  do n = recvmsg(socket_fd, &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  struct cmsghdr *cmsg = n == 1 ? CMSG_FIRSTHDR(&msg) : NULL;
  if (cmsg == NULL || cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS ||
      cmsg->cmsg_len != CMSG_LEN(sizeof(int)))
    return -1;
  int fd;
  memcpy(&fd, CMSG_DATA(cmsg), sizeof fd);
  return fd;
}

static void __attribute__((noreturn))
run_command(const struct exec_request *req, int error_fd, int null_fd, int out_fd, int err_fd) {
  CHECK(prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0), "exec-prepare", "prctl");
  /* Until the exec we hold every capability in the container's user namespace: nothing in
   * the container may ptrace us meanwhile (execve makes the command dumpable again). */
  CHECK(prctl(PR_SET_DUMPABLE, 0, 0, 0, 0), "exec-prepare", "prctl");
  /* The helper is outside the container's pid namespace, so it shows as parent 0; once it is
   * gone we would have been reparented to the container's init (1). */
  if (getppid() != 0) _exit(137);
  CHECK(chdir(req->cwd), "exec-cwd", "chdir");
  if (req->tty) {
    /* out_fd is the pty's slave: a session of our own with it as the controlling terminal */
    CHECK(setsid(), "exec-tty", "setsid");
    CHECK(ioctl(out_fd, TIOCSCTTY, 0), "exec-tty", "ioctl(TIOCSCTTY)");
    if (req->run_uid != 0 || req->run_gid != 0) CHECK(fchown(out_fd, req->run_uid, req->run_gid), "exec-tty", "fchown");
  }
  CHECK(dup2(null_fd, 0), "exec-stdio", "dup2");
  CHECK(dup2(out_fd, 1), "exec-stdio", "dup2");
  CHECK(dup2(err_fd, 2), "exec-stdio", "dup2");
  sys_close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
  child_drop_bounding_set(error_fd);
  child_confine(req->nesting, error_fd);
  /* as the container's first process: leaving uid 0 after the capabilities are set clears them */
  if (req->run_uid != 0 || req->run_gid != 0) {
    CHECK(sys_setresgid(req->run_gid, req->run_gid, req->run_gid), "exec-set-user", "setresgid");
    CHECK(sys_setresuid(req->run_uid, req->run_uid, req->run_uid), "exec-set-user", "setresuid");
  }
  child_exec_or_fail(req->exec_candidates, req->argv, req->envp, error_fd);
}

static void __attribute__((noreturn))
helper_main(const struct exec_request *req, int container_pidfd, const struct container_cgroups *cg, int error_fd,
            int in_fd, int out_fd, int err_fd, int pty_socket) {
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; sig++)
    if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &dfl, NULL);
  sigset_t none;
  sigemptyset(&none);
  sys_sigprocmask(SIG_SETMASK, &none, NULL);
  /* The launcher's other fds are no business of ours, and some must not outlive it in us: a
   * run's stdin pipe we held would keep its reader from ever seeing EOF while we live. */
  int keep[] = {container_pidfd, error_fd, in_fd, out_fd, err_fd, pty_socket};
  close_fds_except(keep, sizeof keep / sizeof keep[0]);

  for (int i = 0; i < cg->count; i++) CHECK(join_cgroup(cg->dirs[i]), "exec-join-cgroup", "write");
  /* The host's /dev/null, opened while the host's mounts are still ours (an interactive session's stdin is a pipe). */
  int null_fd = in_fd >= 0 ? in_fd : open("/dev/null", O_RDONLY | O_CLOEXEC);
  CHECK(null_fd, "exec-stdio", "open");
  CHECK(sys_setns(container_pidfd, JOIN_FLAGS), "exec-join-namespaces", "setns");
  CHECK(sys_setgroups_none(), "exec-set-ids", "setgroups");
  CHECK(sys_setresgid(0, 0, 0), "exec-set-ids", "setresgid");
  CHECK(sys_setresuid(0, 0, 0), "exec-set-ids", "setresuid");
  if (req->tty) {
    /* made as the container's root, in its devpts: the slave is /dev/pts/N inside, owned by its root */
    int master = open_container_ptmx();
    CHECK(master, "exec-tty", "openat2(/dev/pts/ptmx)");
    int unlock = 0;
    CHECK(ioctl(master, TIOCSPTLCK, &unlock), "exec-tty", "ioctl(TIOCSPTLCK)");
    struct winsize size = {.ws_row = req->rows ? req->rows : 24, .ws_col = req->cols ? req->cols : 80};
    CHECK(ioctl(master, TIOCSWINSZ, &size), "exec-tty", "ioctl(TIOCSWINSZ)");
    int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    CHECK(slave, "exec-tty", "ioctl(TIOCGPTPEER)");
    CHECK(send_fd(pty_socket, master), "exec-tty", "sendmsg");
    close(master);
    close(pty_socket);
    null_fd = out_fd = err_fd = slave;
  }

  pid_t helper = (pid_t)syscall(SYS_getpid);
  pid_t child = (pid_t)syscall(SYS_fork);
  CHECK(child, "exec-fork", "fork");
  if (child == 0) run_command(req, error_fd, null_fd, out_fd, err_fd);
  close(null_fd);
  if (out_fd != null_fd) close(out_fd);
  if (err_fd != out_fd) close(err_fd);
  close(error_fd);
  int status;
  while (waitpid(child, &status, 0) < 0)
    if (errno != EINTR) _exit(127);
  if (WIFSIGNALED(status)) {
    /* Die the same way so the launcher reads the command's signal from the helper's status. */
    signal(WTERMSIG(status), SIG_DFL);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    kill(helper, WTERMSIG(status));
    _exit(128 + WTERMSIG(status));
  }
  _exit(WEXITSTATUS(status));
}

static void close_pipe(int pipe_fds[2]) {
  for (int i = 0; i < 2; i++)
    if (pipe_fds[i] >= 0) close(pipe_fds[i]);
}

int exec_session_start(struct exec_session *s, const struct exec_request *req, int container_pidfd,
                       const struct container_cgroups *cg, size_t output_limit, struct step_error *err) {
  memset(s, 0, sizeof *s);
  s->pid = -1;
  s->pidfd = s->stdout_fd = s->stderr_fd = s->error_fd = s->stdin_fd = -1;
  s->tty = req->tty;
  s->out.limit = s->err.limit = output_limit;
  int out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1}, error_pipe[2] = {-1, -1}, in_pipe[2] = {-1, -1};
  int pty_socket[2] = {-1, -1};
  bool stdin_pipe = req->interactive && !req->tty;
  if ((!req->tty && (pipe2(out_pipe, O_CLOEXEC) < 0 || pipe2(err_pipe, O_CLOEXEC) < 0)) ||
      pipe2(error_pipe, O_CLOEXEC) < 0 || (stdin_pipe && pipe2(in_pipe, O_CLOEXEC) < 0) ||
      (req->tty && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pty_socket) < 0)) {
    int saved = errno;
    close_pipe(out_pipe);
    close_pipe(err_pipe);
    close_pipe(error_pipe);
    close_pipe(in_pipe);
    close_pipe(pty_socket);
    return step_fail(err, "exec-pipes", "pipe2", saved);
  }
  sigset_t all, previous;
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, &previous);
  struct clone_args args;
  memset(&args, 0, sizeof args);
  args.flags = CLONE_PIDFD;
  args.pidfd = (uint64_t)(uintptr_t)&s->pidfd;
  args.exit_signal = SIGCHLD;
  pid_t pid = (pid_t)sys_clone3(&args);
  if (pid < 0 && errno == ENOSYS) pid = (pid_t)sys_clone_pidfd(SIGCHLD, &s->pidfd);
  if (pid == 0) {
    if (out_pipe[0] >= 0) close(out_pipe[0]);
    if (err_pipe[0] >= 0) close(err_pipe[0]);
    if (in_pipe[1] >= 0) close(in_pipe[1]);
    if (pty_socket[0] >= 0) close(pty_socket[0]);
    close(error_pipe[0]);
    /* The pipes' write ends are CLOEXEC; the command gets dup2'd copies. */
    helper_main(req, container_pidfd, cg, error_pipe[1], in_pipe[0], out_pipe[1], err_pipe[1], pty_socket[1]);
  }
  int saved = errno;
  sigprocmask(SIG_SETMASK, &previous, NULL);
  if (out_pipe[1] >= 0) close(out_pipe[1]);
  if (err_pipe[1] >= 0) close(err_pipe[1]);
  if (in_pipe[0] >= 0) close(in_pipe[0]);
  if (pty_socket[1] >= 0) close(pty_socket[1]);
  close(error_pipe[1]);
  s->stdout_fd = out_pipe[0];
  s->stderr_fd = err_pipe[0];
  s->stdin_fd = in_pipe[1];
  s->error_fd = error_pipe[0];
  if (pid < 0) {
    if (pty_socket[0] >= 0) close(pty_socket[0]);
    exec_session_free(s);
    return step_fail(err, "exec-clone", "clone3", saved);
  }
  s->pid = pid;
  if (req->tty) {
    /* The helper sends the master once it made it, or exits having said why: a few ms of setns. */
    s->stdout_fd = receive_fd(pty_socket[0]);
    close(pty_socket[0]);
    if (s->stdout_fd < 0) {
      siginfo_t info;
      memset(&info, 0, sizeof info);
      waitid(P_PIDFD, (id_t)s->pidfd, &info, WEXITED);
      s->pid = -1;
      struct step_error reported;
      if (read(s->error_fd, &reported, sizeof reported) == (ssize_t)sizeof reported) *err = reported;
      else step_fail(err, "exec-tty", "recvmsg", EPROTO);
      exec_session_free(s);
      return -1;
    }
    s->stdin_fd = dup(s->stdout_fd); /* watched apart from the master's reads, for room to write */
    if (s->stdin_fd >= 0) fcntl(s->stdin_fd, F_SETFD, FD_CLOEXEC);
  }
  fcntl(s->stdout_fd, F_SETFL, O_NONBLOCK);
  if (s->stderr_fd >= 0) fcntl(s->stderr_fd, F_SETFL, O_NONBLOCK);
  if (s->stdin_fd >= 0) fcntl(s->stdin_fd, F_SETFL, O_NONBLOCK);
  fcntl(s->error_fd, F_SETFL, O_NONBLOCK); /* the command may outlive the helper for a moment */
  return 0;
}

/* Reads what fd has into b; true at EOF. */
static bool drain_fd(int fd, struct output_buffer *b) {
  char chunk[65536];
  for (;;) {
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false; /* EAGAIN: nothing more for now */
    if (n == 0) return true;
    size_t keep = (size_t)n;
    if (b->len + keep > b->limit) {
      keep = b->limit - b->len;
      b->truncated = true;
    }
    if (keep > 0) {
      if (b->len + keep > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + keep) cap *= 2;
        b->data = realloc(b->data, cap);
        if (b->data == NULL) abort();
        b->cap = cap;
      }
      memcpy(b->data + b->len, chunk, keep);
      b->len += keep;
    }
  }
}

int exec_session_resize(struct exec_session *s, unsigned short rows, unsigned short cols) {
  if (!s->tty || s->stdout_fd < 0) {
    errno = ENOTTY;
    return -1;
  }
  struct winsize size = {.ws_row = rows, .ws_col = cols};
  return ioctl(s->stdout_fd, TIOCSWINSZ, &size);
}

bool exec_session_drain(struct exec_session *s, enum exec_output which) {
  return which == EXEC_STDOUT ? drain_fd(s->stdout_fd, &s->out) : drain_fd(s->stderr_fd, &s->err);
}

int exec_session_finish(struct exec_session *s, int *exit_code, int *signal_number, struct step_error *err) {
  siginfo_t info;
  memset(&info, 0, sizeof info);
  if (waitid(P_PIDFD, (id_t)s->pidfd, &info, WEXITED) < 0) return step_fail(err, "exec-wait", "waitid", errno);
  s->pid = -1;
  exec_session_drain(s, EXEC_STDOUT);
  exec_session_drain(s, EXEC_STDERR);
  struct step_error reported;
  if (read(s->error_fd, &reported, sizeof reported) == (ssize_t)sizeof reported) {
    *err = reported;
    return -1;
  }
  *exit_code = info.si_code == CLD_EXITED ? info.si_status : -1;
  *signal_number = info.si_code == CLD_EXITED ? 0 : info.si_status;
  return 0;
}

void exec_session_free(struct exec_session *s) {
  int *fds[] = {&s->pidfd, &s->stdout_fd, &s->stderr_fd, &s->error_fd, &s->stdin_fd};
  for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
    if (*fds[i] >= 0) {
      close(*fds[i]);
      *fds[i] = -1;
    }
  free(s->out.data);
  free(s->err.data);
  s->out.data = s->err.data = NULL;
}
