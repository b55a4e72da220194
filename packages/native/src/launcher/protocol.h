/* Launcher wire format: one SOCK_SEQPACKET message per request, reply or event.
 * A message is a run of NUL-terminated "key=value" fields; repeated keys form lists (argv, env,
 * map lines). An empty field ends the header; any bytes after it are a binary payload whose
 * parts' lengths are header fields (exec output). */
#ifndef NAGAYA_PROTOCOL_H
#define NAGAYA_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#define MAX_FIELDS 4096

struct message {
  char *keys[MAX_FIELDS];
  char *values[MAX_FIELDS];
  int count;
  const char *payload;
  size_t payload_len;
};

/* Splits buf (modified in place) into fields; returns -1 on a malformed message. */
int message_parse(char *buf, size_t len, struct message *out);

/* Returns the first value for key, or NULL. */
const char *message_get(const struct message *m, const char *key);

/* Collects every value for key into a NULL-terminated array (malloc'd; free the array only). */
char **message_list(const struct message *m, const char *key, int *count);

/* A reply under construction; grows as needed. */
struct reply {
  char *buf;
  size_t len, cap;
  int payload_started;
};

/* Appends a "key=value" field. */
void reply_add(struct reply *r, const char *key, const char *value);
/* Appends a field whose value is formatted. */
void reply_addf(struct reply *r, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Ends the header and appends binary payload bytes. */
void reply_payload(struct reply *r, const char *data, size_t len);
/* Releases the buffer. */
void reply_free(struct reply *r);

#endif
