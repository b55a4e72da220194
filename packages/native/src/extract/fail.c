#define _GNU_SOURCE
#include "fail.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

static const char *code_name(enum fail_code code) {
  switch (code) {
    case FAIL_INVALID_INPUT:
      return "INVALID_INPUT";
    case FAIL_PAYLOAD_TOO_LARGE:
      return "PAYLOAD_TOO_LARGE";
    case FAIL_USAGE:
      return "INVALID_ARGUMENT";
    default:
      return "INTERNAL";
  }
}

static __attribute__((noreturn)) void report_and_exit(enum fail_code code, const char *entry, const char *message,
                                                      const char *syscall_name, int err) {
  report_error(code_name(code), entry, message, syscall_name, err);
  exit(code);
}

void fail(enum fail_code code, const char *entry, const char *fmt, ...) {
  char message[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(message, sizeof message, fmt, ap);
  va_end(ap);
  report_and_exit(code, entry, message, NULL, 0);
}

static const char *input_errno_reason(int err) {
  switch (err) {
    case ELOOP:
      return "a symlink is on the path; nothing is written through a symlink";
    case ENOTDIR:
      return "a non-directory is on the path";
    case EXDEV:
      return "the path leaves the image root";
    case ENAMETOOLONG:
      return "a name is too long";
    case EISDIR:
      return "a directory is in the way";
    case ENOTEMPTY:
      return "a non-empty directory is in the way";
    case EEXIST:
      return "the entry already exists";
    case EMLINK:
      return "too many hard links to one file for the filesystem";
    default:
      return NULL;
  }
}

void fail_errno(const char *entry, const char *syscall_name, int err) {
  char message[512];
  const char *reason = input_errno_reason(err);
  if (reason) {
    snprintf(message, sizeof message, "%s", reason);
    report_and_exit(FAIL_INVALID_INPUT, entry, message, syscall_name, err);
  }
  snprintf(message, sizeof message, "%s: %s", syscall_name,
           strerrorname_np(err) ? strerrorname_np(err) : strerror(err));
  report_and_exit(FAIL_INTERNAL, entry, message, syscall_name, err);
}
