import { useMemo, useState } from 'preact/hooks';
import { ApiError, del, describeError } from '../api';
import { ageOf, bytes, when } from '../format';
import { imageKey, layerOwners, sharedLayerCount, shortDigest } from '../image-model';
import { notify } from '../notices';
import { inProject } from '../project';
import type { ImageView } from '@nagaya/contract';
import { ConfirmButton, ProjectTag } from './common';
import { type Column, DataTable } from './data-table';
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
  const detailId = (image: ImageView) => `image-detail-${imageKey(image).replace(/[^a-z0-9]/gi, '-')}`;
  const columns: Column<ImageView>[] = [
    { header: 'Name', cell: (image) => <strong>{image.name}</strong> },
    { header: 'Project', shown: props.allProjects, cell: (image) => <ProjectTag name={image.project} /> },
    { header: 'Format', cell: (image) => image.format },
    {
      header: 'Digest',
      className: 'mono',
      cell: (image) => (image.digest ? <DigestCell digest={image.digest} /> : <span class="muted">none</span>),
    },
    { header: 'Size', className: 'num', title: (image) => `${image.sizeBytes} bytes`, cell: (image) => bytes(image.sizeBytes) },
    {
      header: 'Layers',
      className: 'num',
      testId: 'layer-count',
      cell: (image) => <LayerCount count={image.layers.length} shared={sharedLayerCount(image, owners)} />,
    },
    { header: 'Nodes', cell: (image) => (image.nodes.length ? image.nodes.join(', ') : <span class="muted">none</span>) },
    { header: 'Created', title: (image) => when(image.createdAt), cell: (image) => ageOf(image.createdAt) },
    {
      header: 'Details',
      hideHeader: true,
      cell: (image) => {
        const expanded = open.has(imageKey(image));
        return (
          <button
            type="button"
            class="small"
            aria-expanded={expanded}
            aria-controls={expanded ? detailId(image) : undefined}
            onClick={() => toggle(imageKey(image))}
          >
            {expanded ? 'Hide' : 'Layers'}
            <span class="sr-only"> of {image.name}</span>
          </button>
        );
      },
    },
    {
      header: 'Actions',
      hideHeader: true,
      shown: props.canOperate,
      cell: (image) => <DeleteImageButton image={image} onDone={props.onChanged} />,
    },
  ];
  return (
    <div class="table-wrap">
      <DataTable
        className="images"
        columns={columns}
        rows={props.images}
        rowKey={imageKey}
        rowAttributes={(image) => ({
          'data-image': image.name,
          'data-project': image.project,
          class: open.has(imageKey(image)) ? 'expanded' : '',
        })}
        detail={(image) =>
          open.has(imageKey(image))
            ? {
                attributes: { id: detailId(image), class: 'image-detail-row', 'data-detail-of': image.name },
                content: <ImageDetail image={image} owners={owners} />,
              }
            : null
        }
        empty="No images yet."
      />
    </div>
  );
}

/** How many layers an image has, and how many of them other images of the list hold too. */
function LayerCount(props: { count: number; shared: number }) {
  return (
    <>
      {props.count}
      {props.shared > 0 && (
        <span class="muted" title="layers other images of this list hold too">
          {' '}
          ({props.shared} shared)
        </span>
      )}
    </>
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
