/* The uncompressed archive, read from a file descriptor (stdin) through one buffer. Every byte
 * handed over counts against the input limit, so a decompression bomb stops at the limit
 * whatever its headers claim. */
#ifndef NAGAYA_EXTRACT_INPUT_H
#define NAGAYA_EXTRACT_INPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define INPUT_BUFFER (64 * 1024)

struct input {
  int fd;
  uint64_t limit;
  uint64_t consumed; /* bytes taken from the buffer */
  uint64_t received; /* bytes read from fd */
  size_t start, end;
  bool eof;
  unsigned char buf[INPUT_BUFFER];
};

void input_init(struct input *in, int fd, uint64_t limit);

/* Reads exactly n bytes; returns false if the input ended before the first byte (a clean end),
 * and fails as truncated if it ended part way. */
bool input_read(struct input *in, void *dst, size_t n, const char *entry);

/* Hands out up to max buffered bytes (refilling the buffer first if empty): *len is how many;
 * fails as truncated at the end of input. */
const unsigned char *input_peek(struct input *in, size_t max, size_t *len, const char *entry);
void input_consume(struct input *in, size_t n);

/* Skips n bytes (the data of an entry not written, or padding). */
void input_skip(struct input *in, uint64_t n, const char *entry);

/* Reads to the end of the input (trailing blocks after the end marker), still counted. */
void input_drain(struct input *in);

#endif
