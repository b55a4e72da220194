/* Reading the numeric fields of a request: strictly, with an error that names the field. */
#ifndef NAGAYA_REQUEST_FIELDS_H
#define NAGAYA_REQUEST_FIELDS_H

#include <stdint.h>

#include "launch_spec.h"
#include "protocol.h"

/* The longest stop or exec timeout a request may ask for: the largest integer a JavaScript
 * number holds exactly (what the client sends), far from overflowing a deadline. */
#define MAX_TIMEOUT_MS ((int64_t)9007199254740991)

/* Reads the integer field key of m into *out, or fallback when the field is absent. A value that
 * is not a whole decimal number in [min, max] fails: EINVAL at step "parse-request", the field's
 * name in place of the syscall. */
int request_i64(const struct message *m, const char *key, int64_t fallback, int64_t min, int64_t max, int64_t *out,
                struct step_error *err);

#endif
