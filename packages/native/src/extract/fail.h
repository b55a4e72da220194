/* How nagaya-extract fails: one JSON line on stdout naming the code, the entry and the cause,
 * and an exit status per code. The extractor is a one-shot process, so a failure simply ends it;
 * the caller (extract-archive.ts) removes the half-written staging directory. */
#ifndef NAGAYA_EXTRACT_FAIL_H
#define NAGAYA_EXTRACT_FAIL_H

enum fail_code {
  FAIL_INTERNAL = 1,          /* the host failed (ENOSPC, EIO, not root, ...) */
  FAIL_INVALID_INPUT = 2,     /* the archive is malformed or tries to leave the root */
  FAIL_PAYLOAD_TOO_LARGE = 3, /* a size or count limit was reached */
  FAIL_USAGE = 64,            /* bad command line: a bug in the caller */
};

/* Reports the failure (entry may be NULL) and exits with the code's status. */
__attribute__((noreturn, format(printf, 3, 4))) void fail(enum fail_code code, const char *entry, const char *fmt, ...);

/* Reports a failed syscall on entry: errnos that only hostile or malformed input can cause
 * (a symlink or a non-directory on the path, a name too long, ...) are INVALID_INPUT, the rest
 * INTERNAL. */
__attribute__((noreturn)) void fail_errno(const char *entry, const char *syscall_name, int err);

#endif
