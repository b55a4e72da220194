/* Building and reading back the JSON of the state files (state.json, launching.json, exit.json),
 * which TypeScript parses with JSON.parse: every string in them is escaped. */
#ifndef NAGAYA_JSON_TEXT_H
#define NAGAYA_JSON_TEXT_H

#include <stddef.h>

/* A JSON text under construction; grows as needed. */
struct json_text {
  char *buf;
  size_t len, cap;
};

/* Appends formatted text as it is (punctuation, numbers, literals). */
void json_raw(struct json_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends s as a quoted JSON string: quote and backslash escaped, control characters as \u00XX.
 * Other bytes go through unchanged (JSON is UTF-8; a path in another encoding stays as it is). */
void json_string(struct json_text *t, const char *s);

/* Releases the buffer. */
void json_text_free(struct json_text *t);

/* Reads the JSON string whose opening quote is at p into out (cut to size - 1 bytes), undoing
 * every escape JSON has. Returns the position after its closing quote, or NULL if there is no
 * well-formed string at p. */
const char *json_read_string(const char *p, char *out, size_t size);

#endif
