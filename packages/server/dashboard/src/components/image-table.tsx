import { useMemo, useState } from 'preact/hooks';
import { ApiError, del, describeError } from '../api';
import { ageOf, bytes, when } from '../format';
import { imageKey, layerOwners, sharedLayerCount, shortDigest } from '../image-model';
import { notify } from '../notices';
import { inProject } from '../project';
import type { ImageView } from '@nagaya/contract';
import { ConfirmButton, ProjectTag } from './common';
import { ImageDetail } from './image-detail';

/** The images of the list, each row opening onto its layers and launch defaults; operators get a Delete per row. */
export function ImageTable(props: { images: ImageView[]; allProjects: boolean; canOperate: boolean; onChanged: () => void }) {
  const [open, setOpen] = useState<ReadonlySet<string>>(new Set());
  const owners = useMemo(() => layerOwners(props.images), [props.images]);
  const toggle = (key: string) => {
    const next = new Set(open);
    if (next.has(key)) next.delete(key);
    else next.add(key);
    setOpen(next);
  };
  const columns = 8 + (props.allProjects ? 1 : 0) + (props.canOperate ? 1 : 0);
  return (
    <div class="table-wrap">
      <table class="images">
        <thead>
          <tr>
            <th scope="col">Name</th>
            {props.allProjects && <th scope="col">Project</th>}
            <th scope="col">Format</th>
            <th scope="col">Digest</th>
            <th scope="col">Size</th>
            <th scope="col">Layers</th>
            <th scope="col">Nodes</th>
            <th scope="col">Created</th>
            <th scope="col">
              <span class="sr-only">Details</span>
            </th>
            {props.canOperate && (
              <th scope="col">
                <span class="sr-only">Actions</span>
              </th>
            )}
          </tr>
        </thead>
        <tbody>
          {props.images.map((image) => {
            const key = imageKey(image);
            const expanded = open.has(key);
            const shared = sharedLayerCount(image, owners);
            const detailId = `image-detail-${key.replace(/[^a-z0-9]/gi, '-')}`;
            return [
              <tr key={key} data-image={image.name} data-project={image.project} class={expanded ? 'expanded' : ''}>
                <td>
                  <strong>{image.name}</strong>
                </td>
                {props.allProjects && (
                  <td>
                    <ProjectTag name={image.project} />
                  </td>
                )}
                <td>{image.format}</td>
                <td class="mono">{image.digest ? <DigestCell digest={image.digest} /> : <span class="muted">none</span>}</td>
                <td class="num" title={`${image.sizeBytes} bytes`}>
                  {bytes(image.sizeBytes)}
                </td>
                <td class="num" data-testid="layer-count">
                  {image.layers.length}
                  {shared > 0 && (
                    <span class="muted" title="layers other images of this list hold too">
                      {' '}
                      ({shared} shared)
                    </span>
                  )}
                </td>
                <td>{image.nodes.length ? image.nodes.join(', ') : <span class="muted">none</span>}</td>
                <td title={when(image.createdAt)}>{ageOf(image.createdAt)}</td>
                <td>
                  <button
                    type="button"
                    class="small"
                    aria-expanded={expanded}
                    aria-controls={expanded ? detailId : undefined}
                    onClick={() => toggle(key)}
                  >
                    {expanded ? 'Hide' : 'Layers'}
                    <span class="sr-only"> of {image.name}</span>
                  </button>
                </td>
                {props.canOperate && (
                  <td>
                    <DeleteImageButton image={image} onDone={props.onChanged} />
                  </td>
                )}
              </tr>,
              expanded && (
                <tr key={`${key}:detail`} id={detailId} class="image-detail-row" data-detail-of={image.name}>
                  <td colSpan={columns}>
                    <ImageDetail image={image} owners={owners} />
                  </td>
                </tr>
              ),
            ];
          })}
          {props.images.length === 0 && (
            <tr>
              <td colSpan={columns} class="muted">
                No images yet.
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}

/** The short digest, the full one on hover, and a button that copies the full one. */
function DigestCell(props: { digest: string }) {
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(props.digest);
      notify(`copied ${props.digest}`);
    } catch (err) {
      notify(`could not copy the digest: ${(err as Error).message}`, 'error');
    }
  };
  return (
    <span class="digest">
      <span title={props.digest} data-digest={props.digest}>
        {shortDigest(props.digest)}
      </span>
      <button type="button" class="link copy" title="Copy the full digest" onClick={() => void copy()}>
        <CopyIcon />
        <span class="sr-only">Copy digest {props.digest}</span>
      </button>
    </span>
  );
}

/** The source of the images nagaya makes itself on every node: the API refuses to delete them. */
const BUILT_IN_SOURCE = 'busybox-static';

/** Two overlapping sheets, drawn inline: the fonts at hand have no glyph for "copy". */
function CopyIcon() {
  return (
    <svg viewBox="0 0 16 16" width="13" height="13" aria-hidden="true" focusable="false">
      <rect x="5" y="5" width="9" height="9" rx="1.5" fill="none" stroke="currentColor" stroke-width="1.5" />
      <path d="M11 3.5V3a1 1 0 0 0-1-1H3a1 1 0 0 0-1 1v7a1 1 0 0 0 1 1h.5" fill="none" stroke="currentColor" stroke-width="1.5" />
    </svg>
  );
}

/** Delete behind a confirmation; a 409 (containers still name the image) says how many. */
function DeleteImageButton(props: { image: ImageView; onDone: () => void }) {
  const { image } = props;
  const remove = async () => {
    try {
      const answer = await del<{ removedLayers: string[] }>(inProject(`/images/${encodeURIComponent(image.name)}`, image.project));
      const removed = answer.removedLayers.length;
      notify(`${image.name} deleted; ${removed} layer${removed === 1 ? '' : 's'} no other image used freed`);
    } catch (err) {
      notify(`delete of ${image.name} failed: ${deleteFailure(err)}`, 'error');
    }
    props.onDone();
  };
  return (
    <ConfirmButton
      small
      danger
      label="Delete"
      title={`Delete ${image.name}?`}
      confirmLabel={`Delete ${image.name}`}
      disabled={image.source === BUILT_IN_SOURCE}
      message={
        <p>
          The image is removed from project {image.project}. Its layers stay while another image uses them. A container that names the image
          keeps it from being deleted.
        </p>
      }
      onConfirm={remove}
    />
  );
}

/** Why a delete failed: "used by N containers" for the API's CONFLICT with a count, else its message and code. */
function deleteFailure(err: unknown): string {
  if (err instanceof ApiError && err.code === 'CONFLICT') {
    const n = (err.details as { containers?: unknown } | undefined)?.containers;
    if (typeof n === 'number') return `used by ${n} container${n === 1 ? '' : 's'} (${err.code})`;
  }
  return describeError(err);
}
