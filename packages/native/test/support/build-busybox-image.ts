// One process of the image-race test: builds the busybox image at argv[2].
import { buildBusyboxImage } from '../../src';

buildBusyboxImage(process.argv[2]!);
