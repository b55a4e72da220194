/* Launcher wire format: NUL-terminated key=value fields, an empty field before any payload. */
#include "protocol.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int message_parse(char *buf, size_t len, struct message *out) {
  out->count = 0;
  out->payload = NULL;
  out->payload_len = 0;
  size_t pos = 0;
  while (pos < len) {
    char *field = buf + pos;
    char *end = memchr(field, '\0', len - pos);
    if (end == NULL) return -1;
    pos = (size_t)(end - buf) + 1;
    if (end == field) { /* empty field: payload follows */
      out->payload = buf + pos;
      out->payload_len = len - pos;
      return 0;
    }
    char *eq = strchr(field, '=');
    if (eq == NULL || out->count >= MAX_FIELDS) return -1;
    *eq = '\0';
    out->keys[out->count] = field;
    out->values[out->count] = eq + 1;
    out->count++;
  }
  return 0;
}

const char *message_get(const struct message *m, const char *key) {
  for (int i = 0; i < m->count; i++)
    if (strcmp(m->keys[i], key) == 0) return m->values[i];
  return NULL;
}

char **message_list(const struct message *m, const char *key, int *count) {
  int n = 0;
  for (int i = 0; i < m->count; i++)
    if (strcmp(m->keys[i], key) == 0) n++;
  char **list = calloc((size_t)n + 1, sizeof *list);
  if (list == NULL) abort();
  n = 0;
  for (int i = 0; i < m->count; i++)
    if (strcmp(m->keys[i], key) == 0) list[n++] = m->values[i];
  if (count != NULL) *count = n;
  return list;
}

static void reserve(struct reply *r, size_t extra) {
  if (r->len + extra <= r->cap) return;
  size_t cap = r->cap ? r->cap : 256;
  while (cap < r->len + extra) cap *= 2;
  r->buf = realloc(r->buf, cap);
  if (r->buf == NULL) abort();
  r->cap = cap;
}

void reply_add(struct reply *r, const char *key, const char *value) {
  size_t k = strlen(key), v = strlen(value);
  reserve(r, k + v + 2);
  memcpy(r->buf + r->len, key, k);
  r->buf[r->len + k] = '=';
  memcpy(r->buf + r->len + k + 1, value, v);
  r->buf[r->len + k + 1 + v] = '\0';
  r->len += k + v + 2;
}

void reply_addf(struct reply *r, const char *key, const char *fmt, ...) {
  char value[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(value, sizeof value, fmt, ap);
  va_end(ap);
  reply_add(r, key, value);
}

void reply_payload(struct reply *r, const char *data, size_t len) {
  reserve(r, len + 1);
  if (!r->payload_started) r->buf[r->len++] = '\0';
  r->payload_started = 1;
  memcpy(r->buf + r->len, data, len);
  r->len += len;
}

void reply_free(struct reply *r) {
  free(r->buf);
  r->buf = NULL;
  r->len = r->cap = 0;
  r->payload_started = 0;
}
