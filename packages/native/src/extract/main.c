/* nagaya-extract: unpacks an uncompressed tar archive from stdin into an existing directory,
 * never writing outside it (see safe_path.h and write_entry.h), within limits that count what
 * is read and written.
 *
 * Usage: nagaya-extract ROOT [--oci-whiteouts] --max-bytes N --max-entries N --max-depth N
 * --oci-whiteouts unpacks an OCI image layer: its `.wh.` entries become overlay whiteouts
 * (whiteouts.h).
 * Prints one JSON line: the result (exit 0) or {"error":{code,message,entry?,syscall?,errno?}}
 * with exit 2 INVALID_INPUT, 3 PAYLOAD_TOO_LARGE, 1 INTERNAL, 64 bad usage. A failure leaves
 * ROOT half-written: the caller removes it.
 *
 * A process of its own, so a parser bug cannot take the server down and a stuck extraction can
 * be killed; Node decompresses and feeds stdin. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dir_modes.h"
#include "fail.h"
#include "input.h"
#include "limits.h"
#include "report.h"
#include "tar_header.h"
#include "whiteouts.h"
#include "write_entry.h"

static struct input in; /* 64 KiB: static, not on the stack */
static struct tar_entry entry;

int main(int argc, char **argv) {
  if (argc < 2 || argv[1][0] != '/')
    fail(FAIL_USAGE, NULL, "usage: nagaya-extract /ROOT [--oci-whiteouts] --max-bytes N --max-entries N --max-depth N");
  bool oci_whiteouts = argc > 2 && strcmp(argv[2], "--oci-whiteouts") == 0;
  struct extract_limits limits;
  limits_from_args(&limits, argc, argv, oci_whiteouts ? 3 : 2);
  limits_set_root(&limits, argv[1]);

  /* Modes are exactly what the archive says; nothing run from here gains privileges. */
  umask(0);
  prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  struct rlimit no_core = {0, 0};
  setrlimit(RLIMIT_CORE, &no_core);

  int root_fd = open(argv[1], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (root_fd < 0) fail_errno(argv[1], "open", errno);

  struct extract_totals totals = {0};
  input_init(&in, STDIN_FILENO, limits.max_input_bytes);
  /* The root is made 0700 by the caller; without a "./" entry it becomes an ordinary 0755. */
  dir_modes_record("", 0755, false, 0, 0);
  while (tar_next(&in, &entry)) {
    totals.entries++;
    limits_count_entry(&limits);
    write_entry(root_fd, &limits, oci_whiteouts, &in, &entry, &totals);
    tar_skip_rest(&in, &entry);
  }
  input_drain(&in); /* the trailer and the writer's record padding, still within the limit */
  whiteouts_apply(root_fd, &totals.whiteouts, &totals.opaque_dirs);
  dir_modes_apply(root_fd);
  totals.input_bytes = in.received;
  report_result(&totals);
  return 0;
}
