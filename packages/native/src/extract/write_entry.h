/* Writing one archive entry beneath the root: the last component is created with *at() calls
 * (O_CREAT | O_EXCL | O_NOFOLLOW for files) in a parent opened by safe_path, anything already
 * there is unlinked first and never followed, and owners, modes and times are set through the
 * new file's fd (or AT_SYMLINK_NOFOLLOW for symlinks), never by path. */
#ifndef NAGAYA_EXTRACT_WRITE_ENTRY_H
#define NAGAYA_EXTRACT_WRITE_ENTRY_H

#include <stdbool.h>

#include "input.h"
#include "limits.h"
#include "report.h"
#include "tar_header.h"

/* An image is owned by 0..65535 on disk and shown to each container through an idmapped
 * mount of that range: an owner past it would be a host id. */
#define EXTRACT_MAX_ID 65535

struct write_options {
  /* `.wh.` entries are whiteout markers (whiteouts.h): an OCI image layer. */
  bool oci_whiteouts;
  /* Regular files are written under a temporary name and renamed into place once whole
   * (partial_file.h): into a running container, where no staging directory catches a failure. */
  bool partial_files;
};

/* Writes e (reading its data from in) beneath root_fd and counts it in totals. Devices and FIFOs
 * are skipped and reported. */
void write_entry(int root_fd, const struct extract_limits *limits, const struct write_options *options,
                 struct input *in, struct tar_entry *e, struct extract_totals *totals);

#endif
