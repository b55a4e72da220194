/* Filling a step_error: every fallible launcher function reports which step and syscall failed. */
#ifndef NAGAYA_ERRORS_H
#define NAGAYA_ERRORS_H

#include <stdio.h>

#include "launch_spec.h"

/* Records a failed step and returns -1 so callers can `return step_fail(...)`. */
static inline int step_fail(struct step_error *err, const char *step, const char *syscall_name, int errnum) {
  snprintf(err->step, sizeof err->step, "%s", step);
  snprintf(err->syscall, sizeof err->syscall, "%s", syscall_name);
  err->err = errnum;
  return -1;
}

#endif
