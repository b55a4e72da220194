/* Numeric request fields: see request_fields.h. */
#include "request_fields.h"

#include "errors.h"
#include "parse_i64.h"

int request_i64(const struct message *m, const char *key, int64_t fallback, int64_t min, int64_t max, int64_t *out,
                struct step_error *err) {
  const char *text = message_get(m, key);
  if (text == NULL) {
    *out = fallback;
    return 0;
  }
  if (parse_i64(text, min, max, out) < 0) return step_fail(err, "parse-request", key, EINVAL);
  return 0;
}
