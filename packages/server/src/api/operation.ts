import type { Request, Response } from 'express';
import type { Redis } from 'ioredis';
import type { Allocator } from '@nagaya/allocator';
import type { Role } from '@nagaya/contract';
import type { z } from 'zod';
import type { EventHub } from '../events/event-hub';
import type { ImageStore } from '../images/image-store';
import type { JobQueues } from '../jobs/job-queues';
import type { Metrics } from '../observability/metrics';
import type { NodeFleet } from '../services/node-fleet';
import type { ContainerFileService } from '../services/container-file-service';
import type { ContainerExecService } from '../services/container-exec-service';
import type { ContainerLogService } from '../services/container-log-service';
import type { ContainerService } from '../services/container-service';
import type { ContainerStatsService } from '../services/container-stats-service';
import type { ImagePullService } from '../services/image-pulls';
import type { RunService } from '../services/run-service';
import type { VolumeService } from '../services/volume-service';
import type { AuditStore } from '../store/audit-store';
import type { ContainerStore } from '../store/container-store';
import type { Db } from '../store/db';
import type { IdempotencyStore } from '../store/idempotency-store';
import type { NetworkStore } from '../store/network-store';
import type { NodeStore } from '../store/node-store';
import type { ProjectStore } from '../store/project-store';
import type { TokenIdentity, TokenStore } from '../store/token-store';

/** What the handlers of /api/v1 work with. */
export interface RouteDeps {
  db: Db;
  redis: Redis;
  metrics: Metrics;
  containerService: ContainerService;
  /** Commands run in running containers: one-shot and interactive. */
  containerExec: ContainerExecService;
  /** Console logs, read or followed. */
  containerLogs: ContainerLogService;
  /** What running containers use now. */
  containerStats: ContainerStatsService;
  /** Files copied out of and into running containers. */
  containerFiles: ContainerFileService;
  volumeService: VolumeService;
  runService: RunService;
  /** Evacuate and remove nodes. */
  fleet: NodeFleet;
  idempotency: IdempotencyStore;
  allocator: Allocator;
  queues: JobQueues;
  nodes: NodeStore;
  images: ImageStore;
  imagePulls: ImagePullService;
  tokens: TokenStore;
  audit: AuditStore;
  containers: ContainerStore;
  projects: ProjectStore;
  networks: NetworkStore;
  /** The fleet's events, fanned out to GET /events. */
  events: EventHub;
  imageUploadLimitBytes: number;
  /** The largest file or tar `GET`/`PUT /containers/{name}/files` moves (413 beyond). */
  fileCopyLimitBytes: number;
  version: string;
}

type Parsed<S> = S extends z.ZodType ? z.output<S> : undefined;
type ParsedEach<P> = { [K in keyof P]: Parsed<P[K]> };

/**
 * The project a project-scoped request acts in, resolved once before its handler runs: the
 * token's own, or for a token of every project ?project= (default `default`). A token of one
 * project that names another gets NOT_FOUND, as if the project did not exist.
 */
export interface ProjectScope {
  project: string;
  /** ?all-projects=true from a token of every project: lists span every project. */
  all: boolean;
  /** The request named its project (?project=), or its token has one: not the `default` fallback. */
  named: boolean;
}

/** One call of an operation, its input already checked against the operation's schemas. */
export interface OperationCall<B, Q, P> {
  req: Request;
  res: Response;
  deps: RouteDeps;
  /** The caller; operations of role 'none' have none and must not read it. */
  actor: TokenIdentity;
  /** Operations of scope 'project' only; the others must not read it. */
  scope: ProjectScope;
  body: Parsed<B>;
  query: Parsed<Q>;
  params: ParsedEach<P>;
}

/**
 * One route of /api/v1: everything that registers it (method, path, role, schemas, handler) and
 * documents it in OpenAPI. Paths are written as OpenAPI writes them: /containers/{name}.
 */
export interface OperationSpec<B extends z.ZodType | undefined, Q extends z.ZodObject | undefined, P extends Record<string, z.ZodType>> {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  path: string;
  summary: string;
  /** Checked before anything else: 401 without a token, 403 below this role. */
  role: 'none' | Role;
  /**
   * 'project': acts on one project's things (?project=, all-projects= for lists), resolved into
   * the call's scope. 'fleet': acts on what spans projects (pools, nodes, projects themselves);
   * with role admin it needs an admin token of every project.
   */
  scope: 'project' | 'fleet';
  /** Validated in this order: headers, query, body, then path parameters. */
  headers?: Record<string, z.ZodType>;
  query?: Q;
  body?: B;
  /** start/stop/restart: a request without a body is taken as `{}`. */
  bodyMayBeAbsent?: true;
  params?: P;
  /** The status of a success, answered with the handler's return value as JSON. */
  success: number;
  /** Returns the JSON body of a success; or answers through `res` itself and returns nothing. */
  handle(call: OperationCall<B, Q, P>): Promise<unknown> | unknown;
}

/** An operation of any schemas, as the route table holds it. */
export type Operation = OperationSpec<z.ZodType | undefined, z.ZodObject | undefined, Record<string, z.ZodType>>;

/** Declares an operation, typing its handler's input from its schemas. */
export function operation<
  B extends z.ZodType | undefined = undefined,
  Q extends z.ZodObject | undefined = undefined,
  P extends Record<string, z.ZodType> = Record<never, z.ZodType>,
>(spec: OperationSpec<B, Q, P>): Operation {
  return spec as unknown as Operation;
}

/** A view as the server may hold it before JSON encodes it: a Date where the view has a string. */
export type Sendable<T> = T extends string
  ? string | Date
  : T extends Array<infer U>
    ? Array<Sendable<U>>
    : T extends object
      ? { [K in keyof T]: Sendable<T[K]> }
      : T;
