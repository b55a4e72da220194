/* Running a command inside a running container.
 * A helper process forked by the launcher joins the container's cgroups (writing "0" moves the
 * writer), then every namespace at once with setns(pidfd), becomes the namespace's root and
 * forks the command, which is the one that lands in the container's pid namespace. The helper
 * waits for it and exits the same way, so the launcher sees the command's status on the
 * helper's pidfd. The command dies with the helper (PDEATHSIG), which is how a timeout kills it.
 * The command is confined as the container's first process was (capabilities, seccomp) before
 * it execs. Nothing is opened by path inside the container before that: the container owns
 * those paths, and its /dev/null may be a FIFO that blocks an open forever. */
#define _GNU_SOURCE
#include "exec_session.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
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
            int out_fd, int err_fd) {
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
  int keep[] = {container_pidfd, error_fd, out_fd, err_fd};
  close_fds_except(keep, sizeof keep / sizeof keep[0]);

  for (int i = 0; i < cg->count; i++) CHECK(join_cgroup(cg->dirs[i]), "exec-join-cgroup", "write");
  /* The host's /dev/null, opened while the host's mounts are still ours. */
  int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  CHECK(null_fd, "exec-stdio", "open");
  CHECK(sys_setns(container_pidfd, JOIN_FLAGS), "exec-join-namespaces", "setns");
  CHECK(sys_setgroups_none(), "exec-set-ids", "setgroups");
  CHECK(sys_setresgid(0, 0, 0), "exec-set-ids", "setresgid");
  CHECK(sys_setresuid(0, 0, 0), "exec-set-ids", "setresuid");

  pid_t helper = (pid_t)syscall(SYS_getpid);
  pid_t child = (pid_t)syscall(SYS_fork);
  CHECK(child, "exec-fork", "fork");
  if (child == 0) run_command(req, error_fd, null_fd, out_fd, err_fd);
  close(null_fd);
  close(out_fd);
  close(err_fd);
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
  s->pidfd = s->stdout_fd = s->stderr_fd = s->error_fd = -1;
  s->out.limit = s->err.limit = output_limit;
  int out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1}, error_pipe[2] = {-1, -1};
  if (pipe2(out_pipe, O_CLOEXEC) < 0 || pipe2(err_pipe, O_CLOEXEC) < 0 || pipe2(error_pipe, O_CLOEXEC) < 0) {
    int saved = errno;
    close_pipe(out_pipe);
    close_pipe(err_pipe);
    close_pipe(error_pipe);
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
    close(out_pipe[0]);
    close(err_pipe[0]);
    close(error_pipe[0]);
    /* The pipes' write ends are CLOEXEC; the command gets dup2'd copies. */
    helper_main(req, container_pidfd, cg, error_pipe[1], out_pipe[1], err_pipe[1]);
  }
  int saved = errno;
  sigprocmask(SIG_SETMASK, &previous, NULL);
  close(out_pipe[1]);
  close(err_pipe[1]);
  close(error_pipe[1]);
  s->stdout_fd = out_pipe[0];
  s->stderr_fd = err_pipe[0];
  s->error_fd = error_pipe[0];
  if (pid < 0) {
    exec_session_free(s);
    return step_fail(err, "exec-clone", "clone3", saved);
  }
  s->pid = pid;
  fcntl(s->stdout_fd, F_SETFL, O_NONBLOCK);
  fcntl(s->stderr_fd, F_SETFL, O_NONBLOCK);
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
  int *fds[] = {&s->pidfd, &s->stdout_fd, &s->stderr_fd, &s->error_fd};
  for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
    if (*fds[i] >= 0) {
      close(*fds[i]);
      *fds[i] = -1;
    }
  free(s->out.data);
  free(s->err.data);
  s->out.data = s->err.data = NULL;
}
