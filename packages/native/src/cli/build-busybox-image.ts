#!/usr/bin/env node
// Builds the busybox image directory for tests and the quickstart:
//   node packages/native/dist/cli/build-busybox-image.js [DIR] [BUSYBOX]
// DIR defaults to $NAGAYA_DATA_DIR/images/busybox (/var/lib/nagaya/images/busybox).
import { join } from 'node:path';

import { buildBusyboxImage, DEFAULT_BUSYBOX } from '../busybox-image';

const dataDir = process.env.NAGAYA_DATA_DIR ?? '/var/lib/nagaya';
const dir = process.argv[2] ?? join(dataDir, 'images', 'busybox');
console.log(buildBusyboxImage(dir, process.argv[3] ?? DEFAULT_BUSYBOX));
