// What /jobs returns, and the job reference every container action and pull answers with.

export const JOB_STATES = ['waiting', 'active', 'completed', 'failed'] as const;
export type JobState = (typeof JOB_STATES)[number];

export const LIFECYCLE_KINDS = ['launch', 'start', 'stop', 'restart', 'delete'] as const;
export type LifecycleKind = (typeof LIFECYCLE_KINDS)[number];

/** Every kind of job: a container's lifecycle, or an image pull. */
export const JOB_KINDS = [...LIFECYCLE_KINDS, 'pull'] as const;
export type JobKind = (typeof JOB_KINDS)[number];

/** A job's id, as create and the container actions return it. */
export interface JobRef {
  id: string;
}

/** GET /jobs/:id. */
export interface JobView {
  id: string;
  /** The project of the job's container or image (null for a job whose container row was gone when it was queued). */
  project: string | null;
  kind: JobKind;
  /** The container a lifecycle job acts on; null for a pull. */
  container: string | null;
  /** The image a pull makes (name[:tag]); null for a lifecycle job. */
  image: string | null;
  node: string;
  state: JobState;
  /** 0..100 (a pull: of its layers' bytes). */
  progress: number;
  /** A pull: layer bytes fetched so far and in all (null before the manifest is read, and for lifecycle jobs). */
  bytesDone: number | null;
  bytesTotal: number | null;
  error: string | null;
  attempts: number;
  createdAt: string;
  finishedAt: string | null;
}
