import type { ImageView } from '@nagaya/contract';
import { bytes, joinArgs } from '../format';
import { imageKey, layerBarPercent, sharedLayerColour, shortDigest, type LayerOwners } from '../image-model';

/** An expanded image row: its layers bottom first, each with a bar for its size, and what a launch runs by default. */
export function ImageDetail(props: { image: ImageView; owners: LayerOwners }) {
  const image = props.image;
  return (
    <div class="image-detail">
      <section aria-label={`Layers of ${image.name}`}>
        <h3>
          Layers <span class="muted">bottom first</span>
        </h3>
        <LayerList image={image} owners={props.owners} />
      </section>
      <section aria-label={`Launch defaults of ${image.name}`}>
        <h3>Launch defaults</h3>
        <RunDefaults image={image} />
      </section>
    </div>
  );
}

/**
 * One line per layer: the short diffId, its size and a bar as long as its share of the image's
 * largest layer. A layer other images of the list hold too gets a colour of its own (the same in
 * every image that holds it) and names them, so shared layers can be followed down the list.
 */
function LayerList(props: { image: ImageView; owners: LayerOwners }) {
  const { image, owners } = props;
  if (image.layers.length === 0) return <p class="muted">One directory tree, no layers (a built-in image).</p>;
  const largest = Math.max(...image.layers.map((l) => l.sizeBytes));
  const self = imageKey(image);
  return (
    <ol class="layers">
      {image.layers.map((layer, i) => {
        const colour = sharedLayerColour(layer.diffId, owners);
        const others = (owners.get(layer.diffId) ?? []).filter((k) => k !== self);
        return (
          <li key={`${i}:${layer.diffId}`} class="layer" data-diff-id={layer.diffId} data-shared={colour ? 'true' : 'false'}>
            <span class="layer-index muted">{i + 1}</span>
            <code class="layer-id" title={layer.diffId}>
              {shortDigest(layer.diffId)}
            </code>
            <span class="layer-size">{bytes(layer.sizeBytes)}</span>
            <span class="layer-track">
              <span
                class={`layer-bar ${colour ? 'shared' : ''}`}
                style={{ width: `${layerBarPercent(layer.sizeBytes, largest)}%`, ...(colour ? { background: colour } : {}) }}
              />
            </span>
            <span class="layer-shared">
              {others.length > 0 ? (
                <>
                  <span class="swatch" style={{ background: colour ?? undefined }} aria-hidden="true" />
                  shared with {others.map((k) => nameOfKey(k, image.project)).join(', ')}
                </>
              ) : (
                <span class="muted">only here</span>
              )}
            </span>
          </li>
        );
      })}
    </ol>
  );
}

/** An imageKey as a reader knows the image: its name, with its project when that is not `ownProject`. */
function nameOfKey(key: string, ownProject: string): string {
  const slash = key.indexOf('/');
  const project = key.slice(0, slash);
  return key.slice(slash + 1) + (project === ownProject ? '' : ` (${project})`);
}

/** The image config's defaults: a launch runs entrypoint + cmd with env, in workingDir, as user, unless it says otherwise. */
function RunDefaults(props: { image: ImageView }) {
  const c = props.image.config;
  const none = <span class="muted">none</span>;
  return (
    <dl class="facts run-defaults">
      <dt>Entrypoint</dt>
      <dd class="mono" data-testid="entrypoint">
        {c.entrypoint?.length ? joinArgs(c.entrypoint) : none}
      </dd>
      <dt>Cmd</dt>
      <dd class="mono" data-testid="cmd">
        {c.cmd?.length ? joinArgs(c.cmd) : none}
      </dd>
      <dt>Env</dt>
      <dd class="mono" data-testid="env">
        {c.env.length ? (
          <ul class="plain env">
            {c.env.map((e) => (
              <li key={e}>{e}</li>
            ))}
          </ul>
        ) : (
          none
        )}
      </dd>
      <dt>Working dir</dt>
      <dd class="mono">{c.workingDir || none}</dd>
      <dt>User</dt>
      <dd class="mono">{c.user || none}</dd>
      {props.image.reference && (
        <>
          <dt>Pulled from</dt>
          <dd class="mono">{props.image.reference}</dd>
        </>
      )}
      {props.image.files > 0 && (
        <>
          <dt>Files</dt>
          <dd>{props.image.files}</dd>
        </>
      )}
    </dl>
  );
}
