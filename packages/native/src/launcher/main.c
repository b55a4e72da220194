/* nagaya-launcher: a tiny single-threaded daemon, one per state directory, that launches
 * containers on request, owns them as their parent (and subreaper), watches their pidfds and
 * records their exit in the state directory. Node talks to it over <state>/launcher.sock, so the
 * Node process is never forked on the launch path and containers outlive it.
 *
 * Usage: nagaya-launcher --state-dir DIR [--console-log-max BYTES]
 * The invoked process forks the daemon and exits once the socket is listening: 0 ready,
 * 3 another launcher already serves DIR, 1 failure (reason on stderr). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "console_log.h"
#include "daemon.h"
#include "parse_i64.h"
#include "syscalls.h"

int main(int argc, char **argv) {
  const char *state_dir = NULL;
  bool log_max_ok = true;
  for (int i = 1; i + 1 < argc; i++) {
    if (strcmp(argv[i], "--state-dir") == 0) state_dir = argv[i + 1];
    if (strcmp(argv[i], "--console-log-max") == 0)
      log_max_ok = parse_i64(argv[i + 1], 4096, INT64_MAX, &console_log_max_bytes) == 0;
  }
  if (!log_max_ok) {
    fprintf(stderr, "nagaya-launcher: --console-log-max must be at least 4096\n");
    return 1;
  }
  if (state_dir == NULL || state_dir[0] != '/') {
    fprintf(stderr, "usage: nagaya-launcher --state-dir ABSOLUTE_DIR [--console-log-max BYTES]\n");
    return 1;
  }
  /* Whoever started us may have left fds open, signals ignored or blocked. */
  sys_close_range(3, ~0U, 0);
  for (int sig = 1; sig < NSIG; sig++)
    if (sig != SIGKILL && sig != SIGSTOP) signal(sig, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);

  int ready[2];
  if (pipe2(ready, O_CLOEXEC) < 0) return 1;
  pid_t pid = fork();
  if (pid < 0) return 1;
  if (pid == 0) {
    close(ready[0]);
    _exit(daemon_main(state_dir, ready[1]));
  }
  close(ready[1]);
  char text[512];
  ssize_t n = read(ready[0], text, sizeof text - 1);
  if (n <= 0) {
    fprintf(stderr, "nagaya-launcher: daemon exited before it was ready\n");
    return 1;
  }
  text[n] = '\0';
  if (text[0] != 0) fprintf(stderr, "nagaya-launcher: %s\n", text + 1);
  return text[0];
}
