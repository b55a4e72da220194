// What /projects and /audit return: a project, its quotas and their use, and the audit log.

/**
 * What a project may hold, each optional (absent: no limit). Sums are over every container of the
 * project whatever its state, as LXD counts them: a stopped container keeps its claim.
 */
export const QUOTA_NAMES = ['containers', 'slices', 'memoryBytes', 'cpus', 'processes', 'diskBytes', 'networkInterfaces'] as const;
export type QuotaName = (typeof QUOTA_NAMES)[number];

/** What each quota counts, for help texts and the dashboard. */
export const QUOTA_MEANINGS: Record<QuotaName, string> = {
  containers: 'containers, in any state',
  slices: "65536-ID slots of the containers' isolated slices",
  memoryBytes: "sum of the containers' memory limits",
  cpus: "sum of the containers' CPU limits",
  processes: "sum of the containers' pids limits",
  diskBytes: "bytes of the project's images and sized volumes",
  networkInterfaces: 'network interfaces (one per container in network mode bridge)',
};

/** One quota of GET /projects/:name: its limit (null: none) and what the project uses now. */
export interface QuotaUse {
  limit: number | null;
  used: number;
}

/** GET /projects/:name. */
export interface ProjectView {
  name: string;
  description: string;
  /** Containers of this project may ask for idmap.raw (host IDs mapped straight in). */
  rawIdmapAllowed: boolean;
  quotas: Record<QuotaName, QuotaUse>;
  createdAt: string;
}

/** The details of a QUOTA_EXCEEDED error. */
export interface QuotaExceededDetails {
  project: string;
  quota: QuotaName;
  limit: number;
  used: number;
  requested: number;
}

/** One entry of GET /audit: who did what, in which project, to which target. */
export interface AuditEventView {
  id: number;
  at: string;
  actor: string;
  /** null: a fleet-wide action (pools, nodes, projects themselves, global tokens). */
  project: string | null;
  action: string;
  target: string | null;
  details: Record<string, unknown>;
}
