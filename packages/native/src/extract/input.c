#define _GNU_SOURCE
#include "input.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "fail.h"

void input_init(struct input *in, int fd, uint64_t limit) {
  in->fd = fd;
  in->limit = limit;
  in->consumed = in->received = 0;
  in->start = in->end = 0;
  in->eof = false;
}

/* Refills an empty buffer; returns false at the end of input. */
static bool fill(struct input *in) {
  if (in->start < in->end) return true;
  if (in->eof) return false;
  in->start = in->end = 0;
  for (;;) {
    ssize_t n = read(in->fd, in->buf, sizeof in->buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail_errno(NULL, "read", errno);
    if (n == 0) {
      in->eof = true;
      return false;
    }
    in->received += (uint64_t)n;
    if (in->received > in->limit) {
      fail(FAIL_PAYLOAD_TOO_LARGE, NULL, "the unpacked archive is larger than %" PRIu64 " bytes", in->limit);
    }
    in->end = (size_t)n;
    return true;
  }
}

static __attribute__((noreturn)) void truncated(const char *entry) {
  fail(FAIL_INVALID_INPUT, entry, "the archive is truncated");
}

const unsigned char *input_peek(struct input *in, size_t max, size_t *len, const char *entry) {
  if (!fill(in)) truncated(entry);
  size_t avail = in->end - in->start;
  *len = avail < max ? avail : max;
  return in->buf + in->start;
}

void input_consume(struct input *in, size_t n) {
  in->start += n;
  in->consumed += n;
}

bool input_read(struct input *in, void *dst, size_t n, const char *entry) {
  unsigned char *out = dst;
  size_t done = 0;
  while (done < n) {
    if (!fill(in)) {
      if (done == 0) return false;
      truncated(entry);
    }
    size_t avail = in->end - in->start;
    size_t take = avail < n - done ? avail : n - done;
    memcpy(out + done, in->buf + in->start, take);
    input_consume(in, take);
    done += take;
  }
  return true;
}

void input_skip(struct input *in, uint64_t n, const char *entry) {
  while (n > 0) {
    size_t len;
    input_peek(in, n < INPUT_BUFFER ? (size_t)n : INPUT_BUFFER, &len, entry);
    input_consume(in, len);
    n -= len;
  }
}

void input_drain(struct input *in) {
  while (fill(in)) input_consume(in, in->end - in->start);
}
