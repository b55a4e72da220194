/* Reducing a container process's capabilities to Docker's default set.
 * Root in the container's user namespace holds every capability there, and over the
 * namespaces that user namespace owns (its network, its mounts): CAP_NET_ADMIN reaches
 * nf_tables, CAP_SYS_ADMIN mount and the masks over /proc. Only what ordinary images need is
 * kept, and the bounding set is cut too, so neither execve of a setuid binary nor file
 * capabilities can bring the rest back. */
#define _GNU_SOURCE
#include "capabilities.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define BIT(cap) (UINT64_C(1) << (cap))
/* Docker's default set (moby oci/caps/defaults.go). */
#define KEPT_CAPABILITIES                                                                                           \
  (BIT(CAP_CHOWN) | BIT(CAP_DAC_OVERRIDE) | BIT(CAP_FSETID) | BIT(CAP_FOWNER) | BIT(CAP_MKNOD) | BIT(CAP_NET_RAW) | \
   BIT(CAP_SETGID) | BIT(CAP_SETUID) | BIT(CAP_SETFCAP) | BIT(CAP_SETPCAP) | BIT(CAP_NET_BIND_SERVICE) |            \
   BIT(CAP_SYS_CHROOT) | BIT(CAP_KILL) | BIT(CAP_AUDIT_WRITE))

static int last_cap = -1;

int capabilities_init(void) {
  int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    char text[16];
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n > 0) {
      text[n] = '\0';
      last_cap = atoi(text);
    }
  }
  if (last_cap <= 0) {
    /* No /proc/sys: the bounding set answers EINVAL past the last capability. */
    last_cap = 0;
    while (last_cap < 63 && prctl(PR_CAPBSET_READ, last_cap + 1, 0, 0, 0) >= 0) last_cap++;
  }
  if (last_cap < CAP_SETFCAP) {
    errno = ENOTSUP;
    return -1;
  }
  return 0;
}

int capabilities_drop_bounding(void) {
  for (int cap = 0; cap <= last_cap; cap++) {
    if (KEPT_CAPABILITIES & BIT(cap)) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) return -1;
  }
  return 0;
}

int capabilities_limit_to_default(const char **failed_call) {
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0) {
    *failed_call = "prctl(PR_CAP_AMBIENT)";
    return -1;
  }
  struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
  for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++) {
    uint32_t word = (uint32_t)(KEPT_CAPABILITIES >> (32 * i));
    data[i].effective = data[i].permitted = data[i].inheritable = word;
  }
  if (syscall(SYS_capset, &header, data) < 0) {
    *failed_call = "capset";
    return -1;
  }
  return 0;
}
