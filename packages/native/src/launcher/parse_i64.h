/* The one way the launcher reads a number it was given (request fields, command-line options). */
#ifndef NAGAYA_PARSE_I64_H
#define NAGAYA_PARSE_I64_H

#include <stdint.h>

/* Reads text as a decimal integer in [min, max]: the whole string, no sign other than a leading
 * '-', no spaces. 0, or -1 (errno EINVAL, or ERANGE outside [min, max]) leaving *out untouched. */
int parse_i64(const char *text, int64_t min, int64_t max, int64_t *out);

#endif
