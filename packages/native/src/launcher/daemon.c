/* The daemon's start-up: lock, cgroups, confinement, socket, recovery, then the loop. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "cgroups.h"
#include "cleanup.h"
#include "confinement.h"
#include "console_log.h"
#include "daemon.h"
#include "errors.h"
#include "event_set.h"
#include "loop.h"
#include "recovery.h"
#include "requests.h"
#include "state_files.h"
#include "syscalls.h"

static char socket_path[sizeof(((struct sockaddr_un *)0)->sun_path)];

static int open_listen_socket(const char *state_dir) {
  if ((size_t)snprintf(socket_path, sizeof socket_path, "%s/launcher.sock", state_dir) >= sizeof socket_path) {
    errno = ENAMETOOLONG;
    return -1;
  }
  cleanup_close int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path, socket_path, strlen(socket_path) + 1);
  unlink(socket_path); /* a stale socket of a dead launcher: we hold the lock */
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || chmod(socket_path, 0600) < 0 || listen(fd, 64) < 0)
    return -1;
  return take_fd(&fd);
}

static void report_ready(int ready_fd, char status, const char *what) {
  if (status != 0) {
    char text[512];
    int len = snprintf(text, sizeof text, "%c%s: %s", status, what, strerror(errno));
    ssize_t ignored = write(ready_fd, text, (size_t)len);
    (void)ignored;
  } else {
    ssize_t ignored = write(ready_fd, &status, 1);
    (void)ignored;
  }
}

int daemon_main(const char *state_dir, int ready_fd) {
  setsid();
  prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  if (chdir(state_dir) < 0) {
    report_ready(ready_fd, 1, "chdir state dir");
    return 1;
  }
  int lock_fd = open("launcher.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0) {
    report_ready(ready_fd, 1, "open launcher.lock");
    return 1;
  }
  if (flock(lock_fd, LOCK_EX | LOCK_NB) < 0) {
    report_ready(ready_fd, errno == EWOULDBLOCK ? 3 : 1, "lock launcher.lock");
    return 1;
  }
  struct step_error err;
  if (cgroups_init(state_dir, &err) < 0) {
    errno = err.err;
    report_ready(ready_fd, 1, "cgroup init");
    return 1;
  }
  if (confinement_init() < 0) {
    report_ready(ready_fd, 1, "confinement init (capabilities, seccomp filters)");
    return 1;
  }
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigaddset(&mask, SIGPIPE);
  sigprocmask(SIG_BLOCK, &mask, NULL);
  int signal_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  int listen_fd = open_listen_socket(state_dir);
  int logs_fd = console_logs_init();
  if (listen_fd < 0 || signal_fd < 0 || logs_fd < 0) {
    report_ready(ready_fd, 1, "listen on launcher.sock");
    return 1;
  }
  if (event_set_open() < 0) { /* before recovery: the containers it finds are watched at once */
    report_ready(ready_fd, 1, "epoll_create1");
    return 1;
  }
  char pid_text[64];
  int len = snprintf(pid_text, sizeof pid_text, "%d %llu\n", getpid(), process_start_time(getpid()));
  /* written aside and renamed into place: a reader (a test, an operator's script) never sees the
   * file empty or half-written, which it could take for pid 0, and kill(0) is its own process group */
  int pid_fd = open("launcher.pid.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (pid_fd >= 0) {
    ssize_t written = write(pid_fd, pid_text, (size_t)len);
    close(pid_fd);
    if (written == len) rename("launcher.pid.tmp", "launcher.pid");
    else unlink("launcher.pid.tmp");
  }
  int log_fd = open("launcher.log", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd >= 0) dup2(null_fd, 0);
  if (log_fd >= 0) {
    dup2(log_fd, 1);
    dup2(log_fd, 2);
  }
  recover_containers(state_dir);
  prune_stray_cgroups(NULL);
  report_ready(ready_fd, 0, NULL);
  close(ready_fd);
  int rc = run_loop(listen_fd, signal_fd, logs_fd, socket_path);
  cgroups_shutdown();
  unlink(socket_path);
  unlink("launcher.pid");
  return rc;
}
