#define _GNU_SOURCE
#include "limits.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "fail.h"

static uint64_t parse_count(const char *flag, const char *text) {
  char *end = NULL;
  errno = 0;
  unsigned long long value = strtoull(text, &end, 10);
  if (errno || end == text || *end != '\0' || text[0] == '-' || value == 0) {
    fail(FAIL_USAGE, NULL, "%s needs a positive integer, not \"%s\"", flag, text);
  }
  return value;
}

void limits_from_args(struct extract_limits *limits, int argc, char **argv, int first) {
  memset(limits, 0, sizeof *limits);
  for (int i = first; i < argc; i += 2) {
    if (i + 1 >= argc) fail(FAIL_USAGE, NULL, "%s needs a value", argv[i]);
    uint64_t value = parse_count(argv[i], argv[i + 1]);
    if (strcmp(argv[i], "--max-bytes") == 0) limits->max_input_bytes = value;
    else if (strcmp(argv[i], "--max-entries") == 0) limits->max_entries = value;
    else if (strcmp(argv[i], "--max-depth") == 0) limits->max_depth = value > 4096 ? 4096 : (unsigned)value;
    else fail(FAIL_USAGE, NULL, "unknown option %s", argv[i]);
  }
  if (!limits->max_input_bytes || !limits->max_entries || !limits->max_depth) {
    fail(FAIL_USAGE, NULL, "--max-bytes, --max-entries and --max-depth are required");
  }
}

void limits_set_root(struct extract_limits *limits, const char *root) {
  size_t len = strlen(root);
  /* Room for "/" and a few bytes of path at least; a root that long is a bug in the caller. */
  if (len + 1 + 256 > EXTRACT_MAX_PATH)
    fail(FAIL_USAGE, NULL, "the root path is longer than %d bytes", EXTRACT_MAX_PATH - 1 - 256);
  limits->max_path = EXTRACT_MAX_PATH - len - 1;
}

static uint64_t entries_counted;

void limits_count_entry(const struct extract_limits *limits) {
  if (++entries_counted > limits->max_entries) {
    fail(FAIL_PAYLOAD_TOO_LARGE, NULL,
         "the archive has more than %" PRIu64 " entries (the directories their paths imply included)",
         limits->max_entries);
  }
}
