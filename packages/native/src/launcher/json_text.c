/* JSON text for the state files: escaping on the way out, unescaping on the way back in. */
#include "json_text.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void reserve(struct json_text *t, size_t extra) {
  if (t->len + extra + 1 <= t->cap) return;
  size_t cap = t->cap ? t->cap : 256;
  while (cap < t->len + extra + 1) cap *= 2;
  t->buf = realloc(t->buf, cap);
  if (t->buf == NULL) abort();
  t->cap = cap;
}

void json_raw(struct json_text *t, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) abort();
  reserve(t, (size_t)n);
  va_start(ap, fmt);
  vsnprintf(t->buf + t->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  t->len += (size_t)n;
}

void json_string(struct json_text *t, const char *s) {
  reserve(t, strlen(s) * 6 + 2); /* \u00XX is the longest a byte gets */
  t->buf[t->len++] = '"';
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\') {
      t->buf[t->len++] = '\\';
      t->buf[t->len++] = (char)*p;
    } else if (*p < 0x20) {
      t->len += (size_t)snprintf(t->buf + t->len, 7, "\\u%04x", *p);
    } else {
      t->buf[t->len++] = (char)*p;
    }
  }
  t->buf[t->len++] = '"';
  t->buf[t->len] = '\0';
}

void json_text_free(struct json_text *t) {
  free(t->buf);
  t->buf = NULL;
  t->len = t->cap = 0;
}

static int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Writes code point cp as UTF-8 into bytes; returns how many. Lone surrogates are written as they
 * are (CESU-style): the launcher never writes them, and a reader must not crash on them. */
static size_t utf8_encode(uint32_t cp, char bytes[3]) {
  if (cp < 0x80) {
    bytes[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    bytes[0] = (char)(0xc0 | (cp >> 6));
    bytes[1] = (char)(0x80 | (cp & 0x3f));
    return 2;
  }
  bytes[0] = (char)(0xe0 | (cp >> 12));
  bytes[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
  bytes[2] = (char)(0x80 | (cp & 0x3f));
  return 3;
}

const char *json_read_string(const char *p, char *out, size_t size) {
  if (*p != '"' || size == 0) return NULL;
  size_t len = 0;
  for (p++; *p != '"'; p++) {
    char bytes[3];
    size_t n = 1;
    if ((unsigned char)*p < 0x20) return NULL; /* raw control characters are not JSON */
    if (*p != '\\') {
      bytes[0] = *p;
    } else {
      p++;
      switch (*p) {
        case '"':
        case '\\':
        case '/':
          bytes[0] = *p;
          break;
        case 'b':
          bytes[0] = '\b';
          break;
        case 'f':
          bytes[0] = '\f';
          break;
        case 'n':
          bytes[0] = '\n';
          break;
        case 'r':
          bytes[0] = '\r';
          break;
        case 't':
          bytes[0] = '\t';
          break;
        case 'u': {
          uint32_t cp = 0;
          for (int i = 1; i <= 4; i++) {
            int digit = hex_digit(p[i]);
            if (digit < 0) return NULL;
            cp = cp * 16 + (uint32_t)digit;
          }
          p += 4;
          n = utf8_encode(cp, bytes);
          break;
        }
        default:
          return NULL;
      }
    }
    for (size_t i = 0; i < n && len + 1 < size; i++) out[len++] = bytes[i];
  }
  out[len] = '\0';
  return p + 1;
}
