#define _GNU_SOURCE
#include "tar_header.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fail.h"

/* Offsets of the ustar header fields. */
enum {
  H_NAME = 0,
  H_MODE = 100,
  H_UID = 108,
  H_GID = 116,
  H_SIZE = 124,
  H_MTIME = 136,
  H_CHKSUM = 148,
  H_TYPE = 156,
  H_LINKNAME = 157,
  H_MAGIC = 257,
  H_VERSION = 263,
  H_PREFIX = 345,
};

/* Extension values waiting for the entry they describe. */
struct pending {
  bool has_path, has_linkpath, has_size, has_uid, has_gid, has_mtime;
  char path[EXTRACT_MAX_PATH + 1];
  char linkpath[EXTRACT_MAX_PATH + 1];
  uint64_t size, uid, gid;
  int64_t mtime_sec;
  long mtime_nsec;
};

static uint64_t padding(uint64_t size) { return (TAR_BLOCK - size % TAR_BLOCK) % TAR_BLOCK; }

/* A numeric field: octal digits (leading spaces, then spaces or NULs after), or GNU base-256
 * when the top bit of the first byte is set. Base-256 is two's complement with the next bit as
 * the sign, as Go reads it (GNU tar writes only 0x80 and 0xff there): negative values are
 * refused. */
static uint64_t parse_number(const unsigned char *f, size_t len, const char *field, const char *entry) {
  uint64_t value = 0;
  if (f[0] & 0x80) {
    if (f[0] & 0x40) fail(FAIL_INVALID_INPUT, entry, "negative %s in a header", field);
    value = f[0] & 0x3f;
    for (size_t i = 1; i < len; i++) {
      if (value > (UINT64_MAX >> 8)) fail(FAIL_INVALID_INPUT, entry, "%s out of range in a header", field);
      value = (value << 8) | f[i];
    }
    return value;
  }
  size_t i = 0;
  while (i < len && f[i] == ' ') i++;
  for (; i < len && f[i] >= '0' && f[i] <= '7'; i++) {
    if (value > (UINT64_MAX >> 3)) fail(FAIL_INVALID_INPUT, entry, "%s out of range in a header", field);
    value = (value << 3) | (uint64_t)(f[i] - '0');
  }
  for (; i < len; i++) {
    if (f[i] != ' ' && f[i] != '\0') fail(FAIL_INVALID_INPUT, entry, "malformed %s in a header", field);
  }
  return value;
}

static bool all_zero(const unsigned char *block) {
  for (size_t i = 0; i < TAR_BLOCK; i++) {
    if (block[i]) return false;
  }
  return true;
}

/* The checksum is the sum of the header's bytes with the checksum field read as spaces; old
 * writers summed signed chars, so either sum is accepted. */
static void verify_header(const unsigned char *h) {
  uint64_t stored = parse_number(h + H_CHKSUM, 8, "checksum", NULL);
  uint64_t unsigned_sum = 0;
  int64_t signed_sum = 0;
  for (size_t i = 0; i < TAR_BLOCK; i++) {
    unsigned char c = (i >= H_CHKSUM && i < H_CHKSUM + 8) ? ' ' : h[i];
    unsigned_sum += c;
    signed_sum += (signed char)c;
  }
  if (stored != unsigned_sum && (int64_t)stored != signed_sum) {
    fail(FAIL_INVALID_INPUT, NULL, "not a tar archive (a header checksum does not match)");
  }
  if (memcmp(h + H_MAGIC, "ustar", 5) != 0) {
    fail(FAIL_INVALID_INPUT, NULL, "not a ustar, PAX or GNU tar archive");
  }
}

/* Copies a field that is NUL-terminated unless it fills its whole width. */
static size_t field_string(char *dst, const unsigned char *f, size_t width) {
  size_t n = strnlen((const char *)f, width);
  memcpy(dst, f, n);
  dst[n] = '\0';
  return n;
}

static void set_path(char *dst, const char *src, size_t len, const char *what) {
  if (memchr(src, '\0', len)) fail(FAIL_INVALID_INPUT, NULL, "a %s holds a NUL byte", what);
  if (len > EXTRACT_MAX_PATH) fail(FAIL_INVALID_INPUT, NULL, "a %s is longer than %d bytes", what, EXTRACT_MAX_PATH);
  memcpy(dst, src, len);
  dst[len] = '\0';
}

/* Reads an extension's data (a PAX header or a GNU long name) into a buffer of its own. */
static char *read_extension(struct input *in, uint64_t size, uint64_t max, const char *what) {
  if (size > max) fail(FAIL_INVALID_INPUT, NULL, "a %s is larger than %llu bytes", what, (unsigned long long)max);
  char *data = malloc(size + 1);
  if (!data) fail(FAIL_INTERNAL, NULL, "out of memory");
  if (size && !input_read(in, data, size, NULL)) fail(FAIL_INVALID_INPUT, NULL, "the archive is truncated");
  data[size] = '\0';
  input_skip(in, padding(size), NULL);
  return data;
}

/* A GNU long name: the data is the name, NUL-terminated or not. */
static void read_long_name(struct input *in, uint64_t size, char *dst, const char *what) {
  char *data = read_extension(in, size, EXTRACT_MAX_PATH + 1, what);
  set_path(dst, data, strnlen(data, size), what);
  free(data);
}

static uint64_t pax_unsigned(const char *v, size_t len, const char *key) {
  uint64_t value = 0;
  if (len == 0) fail(FAIL_INVALID_INPUT, NULL, "PAX %s is empty", key);
  for (size_t i = 0; i < len; i++) {
    if (v[i] < '0' || v[i] > '9' || value > (UINT64_MAX - 9) / 10)
      fail(FAIL_INVALID_INPUT, NULL, "malformed PAX %s", key);
    value = value * 10 + (uint64_t)(v[i] - '0');
  }
  return value;
}

/* PAX times are decimal seconds with an optional sign and fraction. */
static void pax_time(const char *v, size_t len, int64_t *sec, long *nsec) {
  size_t i = 0;
  bool negative = len > 0 && v[0] == '-';
  if (negative) i++;
  size_t dot = i;
  while (dot < len && v[dot] != '.') dot++;
  uint64_t whole = pax_unsigned(v + i, dot - i, "mtime");
  if (whole > INT64_MAX) fail(FAIL_INVALID_INPUT, NULL, "PAX mtime out of range");
  long fraction = 0;
  int digits = 0;
  for (size_t j = dot + 1; j < len; j++) {
    if (v[j] < '0' || v[j] > '9') fail(FAIL_INVALID_INPUT, NULL, "malformed PAX mtime");
    if (digits < 9) fraction = fraction * 10 + (v[j] - '0'), digits++;
  }
  while (digits++ < 9) fraction *= 10;
  *sec = negative ? -(int64_t)whole : (int64_t)whole;
  *nsec = negative ? 0 : fraction; /* before 1970: whole seconds are plenty */
}

static bool key_is(const char *key, size_t len, const char *name) {
  return strlen(name) == len && memcmp(key, name, len) == 0;
}

/* Records are "<length> <key>=<value>\n", the length counting the whole record. */
static void parse_pax(const char *data, uint64_t size, struct pending *p) {
  uint64_t pos = 0;
  while (pos < size) {
    uint64_t len = 0;
    uint64_t i = pos;
    for (; i < size && data[i] >= '0' && data[i] <= '9'; i++) {
      if (len > size) break;
      len = len * 10 + (uint64_t)(data[i] - '0');
    }
    if (i == pos || i >= size || data[i] != ' ' || len <= i - pos + 1 || len > size - pos ||
        data[pos + len - 1] != '\n') {
      fail(FAIL_INVALID_INPUT, NULL, "malformed PAX header record");
    }
    const char *key = data + i + 1;
    const char *end = data + pos + len - 1;
    const char *eq = memchr(key, '=', (size_t)(end - key));
    if (!eq) fail(FAIL_INVALID_INPUT, NULL, "malformed PAX header record");
    size_t key_len = (size_t)(eq - key);
    const char *value = eq + 1;
    size_t value_len = (size_t)(end - value);
    if (key_is(key, key_len, "path")) set_path(p->path, value, value_len, "PAX path"), p->has_path = true;
    else if (key_is(key, key_len, "linkpath"))
      set_path(p->linkpath, value, value_len, "PAX linkpath"), p->has_linkpath = true;
    else if (key_is(key, key_len, "size")) p->size = pax_unsigned(value, value_len, "size"), p->has_size = true;
    else if (key_is(key, key_len, "uid")) p->uid = pax_unsigned(value, value_len, "uid"), p->has_uid = true;
    else if (key_is(key, key_len, "gid")) p->gid = pax_unsigned(value, value_len, "gid"), p->has_gid = true;
    else if (key_is(key, key_len, "mtime"))
      pax_time(value, value_len, &p->mtime_sec, &p->mtime_nsec), p->has_mtime = true;
    else if (key_len >= 11 && memcmp(key, "GNU.sparse.", 11) == 0)
      fail(FAIL_INVALID_INPUT, NULL, "sparse files are not supported");
    /* Others (atime, uname, gname, comment, xattrs, ...) carry nothing nagaya keeps. */
    pos += len;
  }
}

static bool pending_any(const struct pending *p) {
  return p->has_path || p->has_linkpath || p->has_size || p->has_uid || p->has_gid || p->has_mtime;
}

static enum entry_kind kind_of(unsigned char type, const char *entry) {
  switch (type) {
    case '0':
    case '\0':
    case '7':
      return ENTRY_FILE;
    case '1':
      return ENTRY_HARDLINK;
    case '2':
      return ENTRY_SYMLINK;
    case '3':
      return ENTRY_CHAR_DEVICE;
    case '4':
      return ENTRY_BLOCK_DEVICE;
    case '5':
      return ENTRY_DIRECTORY;
    case '6':
      return ENTRY_FIFO;
    default:
      fail(FAIL_INVALID_INPUT, entry, "unsupported entry type '%c'", type >= 0x20 && type < 0x7f ? type : '?');
  }
}

/* Fills e from a header and the extensions before it. */
static void make_entry(const unsigned char *h, const struct pending *p, struct tar_entry *e) {
  if (p->has_path) {
    strcpy(e->path, p->path);
  } else {
    char name[101], prefix[156];
    field_string(name, h + H_NAME, 100);
    /* Only POSIX ustar has the prefix there; GNU keeps times in those bytes. */
    bool posix = memcmp(h + H_MAGIC, "ustar\0", 6) == 0;
    if (posix && field_string(prefix, h + H_PREFIX, 155) > 0) snprintf(e->path, sizeof e->path, "%s/%s", prefix, name);
    else strcpy(e->path, name);
  }
  if (p->has_linkpath) strcpy(e->linkpath, p->linkpath);
  else field_string(e->linkpath, h + H_LINKNAME, 100);
  if (e->path[0] == '\0') fail(FAIL_INVALID_INPUT, NULL, "an entry has no name");

  e->kind = kind_of(h[H_TYPE], e->path);
  size_t len = strlen(e->path);
  if (e->kind == ENTRY_FILE && h[H_TYPE] == '\0' && e->path[len - 1] == '/') e->kind = ENTRY_DIRECTORY; /* pre-POSIX */
  e->mode = (unsigned)(parse_number(h + H_MODE, 8, "mode", e->path) & 07777);
  e->uid = p->has_uid ? p->uid : parse_number(h + H_UID, 8, "uid", e->path);
  e->gid = p->has_gid ? p->gid : parse_number(h + H_GID, 8, "gid", e->path);
  uint64_t size = p->has_size ? p->size : parse_number(h + H_SIZE, 12, "size", e->path);
  /* As Go's archive/tar (and so Docker) reads them: only files have data, whatever the size
   * field of a link, device or directory says. */
  e->size = e->kind == ENTRY_FILE ? size : 0;
  e->data_left = e->size;
  if (p->has_mtime) {
    e->mtime_sec = p->mtime_sec;
    e->mtime_nsec = p->mtime_nsec;
  } else {
    uint64_t mtime = parse_number(h + H_MTIME, 12, "mtime", e->path);
    e->mtime_sec = mtime > INT64_MAX ? INT64_MAX : (int64_t)mtime;
    e->mtime_nsec = 0;
  }
}

bool tar_next(struct input *in, struct tar_entry *e) {
  struct pending p;
  memset(&p, 0, sizeof p);
  unsigned char h[TAR_BLOCK];
  for (;;) {
    if (!input_read(in, h, TAR_BLOCK, NULL) || all_zero(h)) {
      if (pending_any(&p)) fail(FAIL_INVALID_INPUT, NULL, "the archive ends after an extended header");
      return false;
    }
    verify_header(h);
    uint64_t size = parse_number(h + H_SIZE, 12, "size", NULL);
    switch (h[H_TYPE]) {
      case 'x': {
        char *data = read_extension(in, size, EXTRACT_MAX_PAX_HEADER, "PAX header");
        parse_pax(data, size, &p);
        free(data);
        continue;
      }
      case 'g': /* global PAX defaults: nothing nagaya keeps is taken from them */
      case 'V': /* a GNU volume label */
        /* Apart: size + padding wraps to 0 for a size near 2^64, and the data would be read as headers. */
        input_skip(in, size, NULL);
        input_skip(in, padding(size), NULL);
        continue;
      case 'L':
        read_long_name(in, size, p.path, "GNU long name");
        p.has_path = true;
        continue;
      case 'K':
        read_long_name(in, size, p.linkpath, "GNU long link name");
        p.has_linkpath = true;
        continue;
      default:
        make_entry(h, &p, e);
        return true;
    }
  }
}

void tar_skip_rest(struct input *in, struct tar_entry *e) {
  input_skip(in, e->data_left, e->path);
  input_skip(in, padding(e->size), e->path);
  e->data_left = 0;
}
