/* What every container process gets right before execve, the first one and exec sessions alike:
 * no_new_privs, Docker's default capabilities, and the seccomp filter. */
#ifndef NAGAYA_CONFINEMENT_H
#define NAGAYA_CONFINEMENT_H

#include <stdbool.h>
#include <sys/prctl.h>

#include "capabilities.h"
#include "errors.h"
#include "seccomp.h"

/* Once per launcher, before any clone: the kernel's capability count and both filters. */
static inline int confinement_init(void) {
  if (capabilities_init() < 0) return -1;
  return seccomp_filters_build();
}

/* In a child: cuts the bounding set. Any time before child_confine; the container's first
 * process does it while the parent writes its id maps, off the launch's critical path. */
static inline void child_drop_bounding_set(int report_fd) {
  if (capabilities_drop_bounding() < 0) child_fail(report_fd, "drop-capabilities", "prctl(PR_CAPBSET_DROP)");
}

/* In a child, after child_drop_bounding_set and its last mount, before execve; the filter goes
 * last, since it refuses the calls that set everything else up. A failure is reported on
 * report_fd and ends the child. */
static inline void child_confine(bool nesting, int report_fd) {
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) child_fail(report_fd, "no-new-privs", "prctl");
  const char *failed_call = "";
  if (capabilities_limit_to_default(&failed_call) < 0) child_fail(report_fd, "drop-capabilities", failed_call);
  if (seccomp_install(seccomp_filter_for(nesting)) < 0) child_fail(report_fd, "seccomp", "seccomp");
}

#endif
