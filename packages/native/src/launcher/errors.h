/* Filling a step_error: every fallible launcher function reports which step and syscall failed. */
#ifndef NAGAYA_ERRORS_H
#define NAGAYA_ERRORS_H

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "launch_spec.h"

/* Records a failed step and returns -1 so callers can `return step_fail(...)`. */
static inline int step_fail(struct step_error *err, const char *step, const char *syscall_name, int errnum) {
  snprintf(err->step, sizeof err->step, "%s", step);
  snprintf(err->syscall, sizeof err->syscall, "%s", syscall_name);
  err->err = errnum;
  return -1;
}

/* Copies a string without the C library's formatting: safe in a child after clone or fork. */
static inline void copy_text(char *dst, size_t size, const char *src) {
  size_t i = 0;
  for (; src[i] != '\0' && i + 1 < size; i++) dst[i] = src[i];
  dst[i] = '\0';
}

/* In a child (container init or exec helper): reports the failed step and errno to the parent
 * through fd, then exits. Only async-signal-safe calls: the parent may have had threads. */
static inline __attribute__((noreturn)) void child_fail(int fd, const char *step, const char *syscall_name) {
  struct step_error e;
  e.err = errno;
  copy_text(e.step, sizeof e.step, step);
  copy_text(e.syscall, sizeof e.syscall, syscall_name);
  ssize_t ignored = write(fd, &e, sizeof e);
  (void)ignored;
  _exit(127);
}

/* In a child: execs the first of the candidate paths that exists (PATH resolved beforehand, in
 * the parent); if none can run, reports the first error other than ENOENT, else ENOENT. */
static inline __attribute__((noreturn)) void child_exec_or_fail(const char *const candidates[], char **argv,
                                                                char **envp, int fd) {
  int first_error = ENOENT;
  for (int i = 0; candidates[i] != NULL; i++) {
    execve(candidates[i], argv, envp);
    if (errno != ENOENT && first_error == ENOENT) first_error = errno;
  }
  errno = first_error;
  child_fail(fd, "exec", "execve");
}

#endif
