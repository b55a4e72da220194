import { IMAGE_NAME, type ImagePullView } from '@nagaya/contract';
import type { PullImageInput } from '@nagaya/contract/schemas';
import { NagayaError } from '../errors';
import type { ImageStore } from '../images/image-store';
import type { JobQueues } from '../jobs/job-queues';
import { parseImageReference, type ImageReference } from '../registry/image-reference';
import type { NodeStore } from '../store/node-store';
import { NodePlacement } from './node-placement';

/** The name a pulled image gets when the request names none: the repository's last part and the tag (alpine:3; latest for a digest). */
export function defaultPullName(ref: ImageReference): string {
  const name = `${ref.repository.slice(ref.repository.lastIndexOf('/') + 1)}:${ref.tag ?? 'latest'}`;
  if (!IMAGE_NAME.test(name)) {
    throw new NagayaError('INVALID_INPUT', `${JSON.stringify(name)} cannot be an image name here: give the image a name`, {
      field: 'name',
    });
  }
  return name;
}

export interface ImagePullServiceDeps {
  images: ImageStore;
  queues: JobQueues;
  nodes: NodeStore;
  nodeOfflineMs: number;
  /** Registries (host:port) pulled from over plain http. */
  insecureRegistries: readonly string[];
}

/**
 * Starts image pulls: checks the request (the reference, a free name) before any job exists,
 * places the pull on the least loaded active node, as a create places a container, and queues
 * it there. The worker does the pull (ImagePullJobs).
 */
export class ImagePullService {
  private readonly placement: NodePlacement;

  constructor(private readonly deps: ImagePullServiceDeps) {
    this.placement = new NodePlacement(deps.nodes, deps.nodeOfflineMs);
  }

  /** Queues a pull of `input.reference` as an image of `project`; CONFLICT at once when the name is taken. */
  async pull(project: string, input: PullImageInput): Promise<ImagePullView> {
    const ref = parseImageReference(input.reference, this.deps.insecureRegistries);
    const name = input.name ?? defaultPullName(ref);
    await this.deps.images.refuseTaken(project, name);
    const node = await this.placement.choose(undefined);
    // the credentials go into the job's data in Redis only (see PullJobData)
    const id = await this.deps.queues.enqueuePull(node, {
      kind: 'pull',
      project,
      name,
      reference: input.reference,
      ...(input.auth ? { auth: input.auth } : {}),
    });
    return { job: { id }, image: { project, name } };
  }
}
