/* Strict decimal parsing: what atoi would read as 0 or as a prefix is an error here. */
#include "parse_i64.h"

#include <errno.h>
#include <stdlib.h>

int parse_i64(const char *text, int64_t min, int64_t max, int64_t *out) {
  /* strtoll alone would accept leading spaces and '+', and read "" as 0. */
  if (text == NULL || !((text[0] >= '0' && text[0] <= '9') || (text[0] == '-' && text[1] >= '0' && text[1] <= '9'))) {
    errno = EINVAL;
    return -1;
  }
  char *end;
  errno = 0;
  long long value = strtoll(text, &end, 10);
  if (*end != '\0') {
    errno = EINVAL;
    return -1;
  }
  if (errno == ERANGE || value < min || value > max) {
    errno = ERANGE;
    return -1;
  }
  *out = value;
  return 0;
}
