import type { ImageRecord } from '../images/image-records';

/** How long a read image record stands in for a fresh one. */
const FRESH_MS = 5_000;

/**
 * The image records container creates work from, read once per FRESH_MS instead of once per
 * create (the record's query joins its layers and nodes: it was a third of a create's Postgres
 * time). A stale record cannot launch the wrong image: the create's statement checks that the
 * image still has the record's digest (CreateGuards.image.digest) and the caller reads afresh
 * when it has not. Misses are not kept, so a new image is seen at once.
 */
export class ImageRecordCache {
  private readonly records = new Map<string, { record: ImageRecord; readAt: number }>();

  constructor(private readonly read: (project: string, name: string) => Promise<ImageRecord | undefined>) {}

  async get(project: string, name: string, { fresh = false } = {}): Promise<ImageRecord | undefined> {
    const key = `${project}\0${name}`;
    const kept = this.records.get(key);
    const now = Date.now();
    if (!fresh && kept && now - kept.readAt < FRESH_MS) return kept.record;
    const record = await this.read(project, name);
    if (record) this.records.set(key, { record, readAt: now });
    else this.records.delete(key);
    // a fleet with many images sees each one again within FRESH_MS or drops it
    if (this.records.size > 1024) {
      for (const [k, v] of this.records) if (now - v.readAt >= FRESH_MS) this.records.delete(k);
    }
    return record;
  }
}
