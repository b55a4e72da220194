/* Turning a parsed launch request into a launch_spec.
 * TypeScript validated the plan already; this only re-checks what would make the C code unsafe
 * (missing fields, unparsable numbers, no mapping for id 0) and precomputes derived strings. */
#define _GNU_SOURCE
#include "launch_request.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "container_init.h"
#include "container_mounts.h"
#include "errors.h"
#include "parse_i64.h"
#include "request_fields.h"

/* An rlimit field, "resource:value". */
static int parse_rlimit(const char *text, struct rlimit_request *out) {
  const char *colon = strchr(text, ':');
  char resource[16];
  if (colon == NULL || (size_t)(colon - text) >= sizeof resource) return -1;
  memcpy(resource, text, (size_t)(colon - text));
  resource[colon - text] = '\0';
  int64_t number, value;
  if (parse_i64(resource, 0, RLIMIT_NLIMITS - 1, &number) < 0 || parse_i64(colon + 1, 0, INT64_MAX, &value) < 0)
    return -1;
  out->resource = (int)number;
  out->value = (unsigned long long)value;
  return 0;
}

/* Joins map lines into the file content and finds the host id that ns id 0 maps to. */
static char *join_map(char **lines, int count, uint32_t *host_root, bool *root_found) {
  size_t total = 1;
  for (int i = 0; i < count; i++) total += strlen(lines[i]) + 1;
  char *text = malloc(total);
  if (text == NULL) abort();
  text[0] = '\0';
  size_t len = 0;
  *root_found = false;
  for (int i = 0; i < count; i++) {
    unsigned long long ns, host, n;
    if (sscanf(lines[i], "%llu %llu %llu", &ns, &host, &n) == 3 && ns == 0 && n > 0) {
      *host_root = (uint32_t)host;
      *root_found = true;
    }
    size_t l = strlen(lines[i]);
    memcpy(text + len, lines[i], l);
    text[len + l] = '\n';
    len += l + 1;
    text[len] = '\0';
  }
  return text;
}

static int parse_mac(const char *text, uint8_t mac[6]) {
  unsigned b[6];
  char extra;
  if (sscanf(text, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &extra) != 6) return -1;
  for (int i = 0; i < 6; i++) mac[i] = (uint8_t)b[i];
  return 0;
}

static int copy_ifname(const char *text, char out[16]) {
  size_t len = text == NULL ? 0 : strlen(text);
  if (len == 0 || len >= 16 || strchr(text, '/') != NULL) return -1;
  memcpy(out, text, len + 1);
  return 0;
}

/* The optional network of a launch (fields net_*): all of them, or none (loopback only). */
static int parse_network(const struct message *m, struct launch_network *net, struct step_error *err) {
  const char *ip = message_get(m, "net_ip");
  if (ip == NULL) return 0;
  net->enabled = true;
  const char *gateway = message_get(m, "net_gateway"), *mac = message_get(m, "net_mac");
  int64_t prefix, mtu;
  if (inet_pton(AF_INET, ip, &net->ip) != 1) return step_fail(err, "parse-request", "net_ip", EINVAL);
  if (gateway == NULL || inet_pton(AF_INET, gateway, &net->gateway) != 1)
    return step_fail(err, "parse-request", "net_gateway", EINVAL);
  if (mac == NULL || parse_mac(mac, net->mac) < 0) return step_fail(err, "parse-request", "net_mac", EINVAL);
  if (copy_ifname(message_get(m, "net_bridge"), net->bridge) < 0)
    return step_fail(err, "parse-request", "net_bridge", EINVAL);
  if (copy_ifname(message_get(m, "net_host_if"), net->host_ifname) < 0)
    return step_fail(err, "parse-request", "net_host_if", EINVAL);
  if (request_i64(m, "net_prefix", -1, 1, 30, &prefix, err) < 0 ||
      request_i64(m, "net_mtu", 0, 0, 65535, &mtu, err) < 0)
    return -1;
  if (prefix < 0) return step_fail(err, "parse-request", "net_prefix", EINVAL);
  net->prefix = (uint8_t)prefix;
  net->mtu = (uint32_t)mtu;
  net->resolv_conf = message_get(m, "net_resolv");
  net->hosts = message_get(m, "net_hosts");
  return 0;
}

#define MAX_RUN_TIMEOUT_MS ((int64_t)7 * 24 * 3600 * 1000)
#define MAX_RUN_OUTPUT_LIMIT ((int64_t)64 * 1024 * 1024)

#define REQUIRE(key, field)                                                       \
  do {                                                                            \
    spec->field = message_get(m, key);                                            \
    if (spec->field == NULL) return step_fail(err, "parse-request", key, EINVAL); \
  } while (0)

int launch_spec_from_message(const struct message *m, struct launch_spec *spec, struct step_error *err) {
  memset(spec, 0, sizeof *spec);
  REQUIRE("id", id);
  REQUIRE("container_dir", container_dir);
  REQUIRE("upper", upper_dir);
  REQUIRE("work", work_dir);
  REQUIRE("rootfs", rootfs_dir);
  REQUIRE("hostname", hostname);
  REQUIRE("cwd", cwd);
  REQUIRE("log", log_path);
  const char *idmap = message_get(m, "idmap");
  spec->idmap_lower = idmap == NULL || strcmp(idmap, "1") == 0;
  const char *nesting = message_get(m, "nesting");
  spec->nesting = nesting != NULL && strcmp(nesting, "1") == 0;

  int argc = 0, exe_count = 0, uid_lines = 0, gid_lines = 0, layer_count = 0;
  char **layers = message_list(m, "layer", &layer_count);
  for (int i = 0; i < layer_count && i < MAX_LAYERS; i++) spec->layer_dirs[i] = layers[i];
  free(layers);
  if (layer_count == 0 || layer_count > MAX_LAYERS) return step_fail(err, "parse-request", "layer", EINVAL);
  /* a shifted copy is one private directory: the plan never sends more than one */
  if (!spec->idmap_lower && layer_count != 1) return step_fail(err, "parse-request", "layer", EINVAL);
  spec->layer_count = layer_count;

  spec->argv = message_list(m, "argv", &argc);
  spec->envp = message_list(m, "env", NULL);
  char **exes = message_list(m, "exe", &exe_count);
  if (exe_count > MAX_EXEC_CANDIDATES) exe_count = MAX_EXEC_CANDIDATES;
  for (int i = 0; i < exe_count; i++) spec->exec_candidates[i] = exes[i];
  spec->exec_candidates[exe_count] = NULL;
  free(exes);
  if (argc == 0 || exe_count == 0) return step_fail(err, "parse-request", "argv", EINVAL);
  if (init_spec_from_message(m, spec, err) < 0) return -1;

  char **uid = message_list(m, "uidmap", &uid_lines);
  char **gid = message_list(m, "gidmap", &gid_lines);
  bool uid_root = false, gid_root = false;
  uint32_t host_uid = 0, host_gid = 0;
  spec->uid_map = join_map(uid, uid_lines, &host_uid, &uid_root);
  spec->gid_map = join_map(gid, gid_lines, &host_gid, &gid_root);
  free(uid);
  free(gid);
  if (!uid_root || !gid_root) return step_fail(err, "parse-request", "uidmap", EINVAL);
  spec->host_root_uid = host_uid;
  spec->host_root_gid = host_gid;

  if (request_i64(m, "memory", 0, 0, INT64_MAX, &spec->memory_bytes, err) < 0 ||
      request_i64(m, "pids", 0, 0, INT64_MAX, &spec->pids_max, err) < 0 ||
      request_i64(m, "cpu_quota", 0, 0, INT64_MAX, &spec->cpu_quota_us, err) < 0 ||
      request_i64(m, "cpu_period", 0, 0, INT64_MAX, &spec->cpu_period_us, err) < 0)
    return -1;
  int64_t run_uid = 0, run_gid = 0;
  if (request_i64(m, "run_uid", 0, 0, 65535, &run_uid, err) < 0 ||
      request_i64(m, "run_gid", 0, 0, 65535, &run_gid, err) < 0)
    return -1;
  spec->run_uid = (uid_t)run_uid;
  spec->run_gid = (gid_t)run_gid;
  if (spec->pids_max <= 0) return step_fail(err, "parse-request", "pids", EINVAL); /* no container without a bound */
  if (spec->cpu_quota_us > 0 && spec->cpu_period_us == 0) spec->cpu_period_us = 100000;

  /* A run's limits, as the plan bounds them: 7 days, 64 MiB (run_io.h). */
  if (request_i64(m, "timeout_ms", 0, 1, MAX_RUN_TIMEOUT_MS, &spec->timeout_ms, err) < 0 ||
      request_i64(m, "output_limit", -1, 0, MAX_RUN_OUTPUT_LIMIT, &spec->output_limit, err) < 0)
    return -1;
  spec->stdin_path = message_get(m, "stdin");
  if (spec->stdin_path != NULL && spec->stdin_path[0] != '/') return step_fail(err, "parse-request", "stdin", EINVAL);

  if (parse_network(m, &spec->net, err) < 0) return -1;
  if (launch_mounts_from_message(m, spec, err) < 0) return -1;
  for (int i = 0; i < m->count && spec->rlimit_count < MAX_RLIMITS; i++) {
    if (strcmp(m->keys[i], "rlimit") != 0) continue;
    if (parse_rlimit(m->values[i], &spec->rlimits[spec->rlimit_count]) < 0)
      return step_fail(err, "parse-request", "rlimit", EINVAL);
    spec->rlimit_count++;
  }
  return 0;
}

void launch_spec_free(struct launch_spec *spec) {
  free(spec->argv);
  free(spec->envp);
  free(spec->init_argv);
  spec->init_argv = NULL;
  free((char *)spec->uid_map);
  free((char *)spec->gid_map);
  spec->argv = spec->envp = NULL;
  spec->uid_map = spec->gid_map = NULL;
}
