#define _GNU_SOURCE
#include "report.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct skipped {
  char *path;
  const char *type;
};

static struct skipped skipped[REPORT_MAX_SKIPPED];
static size_t skipped_listed, skipped_listed_bytes;
static uint64_t skipped_total;

/* Archive paths are arbitrary bytes: quotes, backslashes and control bytes are escaped; other
 * bytes pass as they are (Node decodes invalid UTF-8 as U+FFFD). */
static void put_json_string(FILE *out, const char *s) {
  fputc('"', out);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\') fprintf(out, "\\%c", *p);
    else if (*p < 0x20 || *p == 0x7f) fprintf(out, "\\u%04x", *p);
    else fputc(*p, out);
  }
  fputc('"', out);
}

void report_skipped(const char *path, const char *type) {
  skipped_total++;
  size_t len = strlen(path);
  if (skipped_listed >= REPORT_MAX_SKIPPED || skipped_listed_bytes + len > REPORT_MAX_SKIPPED_BYTES) return;
  skipped_listed_bytes += len;
  char *copy = strdup(path);
  if (!copy) return; /* the count still says it was skipped */
  skipped[skipped_listed].path = copy;
  skipped[skipped_listed].type = type;
  skipped_listed++;
}

void report_result(const struct extract_totals *t) {
  printf("{\"entries\":%" PRIu64 ",\"files\":%" PRIu64 ",\"directories\":%" PRIu64 ",\"symlinks\":%" PRIu64
         ",\"hardlinks\":%" PRIu64 ",\"fileBytes\":%" PRIu64 ",\"inputBytes\":%" PRIu64 ",\"whiteouts\":%" PRIu64
         ",\"opaqueDirs\":%" PRIu64 ",\"skippedTotal\":%" PRIu64 ",\"skipped\":[",
         t->entries, t->files, t->directories, t->symlinks, t->hardlinks, t->file_bytes, t->input_bytes, t->whiteouts,
         t->opaque_dirs, skipped_total);
  for (size_t i = 0; i < skipped_listed; i++) {
    printf("%s{\"path\":", i ? "," : "");
    put_json_string(stdout, skipped[i].path);
    printf(",\"type\":\"%s\"}", skipped[i].type);
  }
  printf("]}\n");
  fflush(stdout);
}

void report_error(const char *code, const char *entry, const char *message, const char *syscall_name, int err) {
  printf("{\"error\":{\"code\":\"%s\",\"message\":", code);
  put_json_string(stdout, message);
  if (entry) {
    char shown[256];
    snprintf(shown, sizeof shown, "%s", entry); /* a 4 KiB hostile name is not worth echoing whole */
    printf(",\"entry\":");
    put_json_string(stdout, shown);
  }
  if (syscall_name) printf(",\"syscall\":\"%s\",\"errno\":%d", syscall_name, err);
  printf("}}\n");
  fflush(stdout);
}
