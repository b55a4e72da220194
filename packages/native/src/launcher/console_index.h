/* A timestamp for every line of a container's console log, kept beside it in console.log.idx.
 * The container writes its console straight into console.log (see console_log.h), so the launcher
 * cannot stamp lines as they pass; instead, each time it looks at a log (on an inotify event, at
 * most LOG_PAUSE_MS apart, and when the container exits) it scans the bytes appended since its
 * last look and records where each new line starts and when it saw it. The log stays the raw,
 * binary-safe stream; the index costs 16 bytes a line.
 *
 * Layout (host byte order, read by packages/native/src/console-log-reader.ts):
 *   header, CONSOLE_INDEX_HEADER_BYTES:
 *     char     magic[8]      "NGYLIDX1"
 *     uint64_t base          absolute offset of console.log's first byte (bytes rotated away before it)
 *     uint64_t indexed_to    absolute offset up to which the log was scanned
 *     int64_t  last_ns       the newest record's time (records never go back in time)
 *     uint32_t line_bytes    bytes of the open line (no newline yet) since its last record
 *     uint32_t at_line_start 1 when the byte at indexed_to starts a line
 *     uint64_t reserved
 *   records, CONSOLE_INDEX_RECORD_BYTES each, in offset order:
 *     uint64_t offset        absolute offset of a line's first byte
 *     int64_t  time_ns       CLOCK_REALTIME nanoseconds when the launcher first saw the line
 * Absolute offsets count every byte the container ever wrote: console.log.1 ends at base, so a
 * reader places both files with the header alone. A line longer than CONSOLE_INDEX_MAX_LINE gets
 * a record every CONSOLE_INDEX_MAX_LINE bytes (readers split it there). When the log rotates, the
 * index is rewritten without the records of bytes no file keeps any more (one before the first
 * kept byte stays: it dates the line cut in half). The launcher is its only writer. */
#ifndef NAGAYA_CONSOLE_INDEX_H
#define NAGAYA_CONSOLE_INDEX_H

#include <stdint.h>
#include <sys/types.h>

#define CONSOLE_INDEX_HEADER_BYTES 48
#define CONSOLE_INDEX_RECORD_BYTES 16
#define CONSOLE_INDEX_MAX_LINE 16384

/* Records the lines appended to the log (open as log_fd, at path) since the last look. */
void console_index_update(const char *log_path, int log_fd);

/* After the log's first `dropped` bytes moved to console.log.1 (which now holds older_bytes):
 * moves base on and drops the records of bytes that neither file keeps. */
void console_index_rotated(const char *log_path, off_t dropped, off_t older_bytes);

#endif
