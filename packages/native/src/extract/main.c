/* nagaya-extract: unpacks an uncompressed tar archive from stdin into an existing directory,
 * never writing outside it (see safe_path.h and write_entry.h), within limits that count what
 * is read and written.
 *
 * Usage: nagaya-extract [--enter-pid PID] ROOT [--oci-whiteouts] --max-bytes N --max-entries N --max-depth N
 *        nagaya-extract --enter-pid PID --read PATH --max-bytes N
 * --enter-pid works inside a running container (container_root.h): ROOT is an existing directory
 * there, resolved beneath the container's root, whose own mode is left as it is; --read writes a
 * regular file of the container to stdout instead.
 * --oci-whiteouts unpacks an OCI image layer: its `.wh.` entries become overlay whiteouts
 * (whiteouts.h).
 * Prints one JSON line: the result (exit 0) or {"error":{code,message,entry?,syscall?,errno?}}
 * with exit 2 INVALID_INPUT, 3 PAYLOAD_TOO_LARGE, 1 INTERNAL, 64 bad usage. A failure leaves
 * ROOT half-written: the caller removes it. Inside a container (--enter-pid) each regular file is
 * whole or absent (partial_file.h); the entries before a failure stay written.
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

#include "container_root.h"
#include "dir_modes.h"
#include "fail.h"
#include "input.h"
#include "limits.h"
#include "partial_file.h"
#include "report.h"
#include "tar_header.h"
#include "whiteouts.h"
#include "write_entry.h"

static struct input in; /* 64 KiB: static, not on the stack */
static struct tar_entry entry;

static const char usage[] =
    "usage: nagaya-extract [--enter-pid PID] /ROOT [--oci-whiteouts] --max-bytes N --max-entries N --max-depth N\n"
    "       nagaya-extract --enter-pid PID --read /PATH --max-bytes N";

int main(int argc, char **argv) {
  pid_t container_pid = 0;
  if (argc > 2 && strcmp(argv[1], "--enter-pid") == 0) {
    char *end = NULL;
    long pid = strtol(argv[2], &end, 10);
    if (!end || *end != '\0' || pid <= 1) fail(FAIL_USAGE, NULL, "--enter-pid needs a process id, not \"%s\"", argv[2]);
    container_pid = (pid_t)pid;
    argc -= 2;
    argv += 2;
  }
  if (container_pid && argc == 5 && strcmp(argv[1], "--read") == 0 && strcmp(argv[3], "--max-bytes") == 0) {
    char *end = NULL;
    unsigned long long max = strtoull(argv[4], &end, 10);
    if (!end || *end != '\0' || argv[4][0] == '-') fail(FAIL_USAGE, NULL, "%s", usage);
    if (argv[2][0] != '/') fail(FAIL_USAGE, NULL, "%s", usage);
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    container_enter(container_pid);
    container_read_file(argv[2], max);
  }
  if (argc < 2 || argv[1][0] != '/') fail(FAIL_USAGE, NULL, "%s", usage);
  bool oci_whiteouts = argc > 2 && strcmp(argv[2], "--oci-whiteouts") == 0;
  struct extract_limits limits;
  limits_from_args(&limits, argc, argv, oci_whiteouts ? 3 : 2);
  limits_set_root(&limits, argv[1]);

  /* Modes are exactly what the archive says; nothing run from here gains privileges. */
  umask(0);
  prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  struct rlimit no_core = {0, 0};
  setrlimit(RLIMIT_CORE, &no_core);

  int root_fd;
  if (container_pid) {
    /* An existing directory of the container, such as /etc or /tmp: followed beneath the
     * container's root, and its mode kept (no record for ""). */
    container_enter(container_pid);
    root_fd = container_open(argv[1], O_RDONLY | O_DIRECTORY);
    partial_file_init();
  } else {
    root_fd = open(argv[1], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  }
  if (root_fd < 0) fail_errno(argv[1], "open", errno);

  struct write_options options = {.oci_whiteouts = oci_whiteouts, .partial_files = container_pid != 0};
  struct extract_totals totals = {0};
  input_init(&in, STDIN_FILENO, limits.max_input_bytes);
  /* The root is made 0700 by the caller; without a "./" entry it becomes an ordinary 0755. */
  if (!container_pid) dir_modes_record("", 0755, false, 0, 0);
  while (tar_next(&in, &entry)) {
    totals.entries++;
    limits_count_entry(&limits);
    write_entry(root_fd, &limits, &options, &in, &entry, &totals);
    tar_skip_rest(&in, &entry);
  }
  input_drain(&in); /* the trailer and the writer's record padding, still within the limit */
  whiteouts_apply(root_fd, &totals.whiteouts, &totals.opaque_dirs);
  dir_modes_apply(root_fd);
  totals.input_bytes = in.received;
  report_result(&totals);
  return 0;
}
