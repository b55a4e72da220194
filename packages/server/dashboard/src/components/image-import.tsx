import { useEffect, useRef, useState } from 'preact/hooks';
import { describeError, upload, type UploadProgress } from '../api';
import { bytes } from '../format';
import { imageNameOfFile, percentOf } from '../image-model';
import { notify } from '../notices';
import { inProject } from '../project';
import { IMAGE_NAME, IMAGE_NAME_MESSAGE, type ImageView } from '@nagaya/contract';
import { Field } from './field';

/**
 * POST /images?name=: an archive from this computer (OCI layout, docker save or rootfs tar;
 * plain, gzip or zstd; the server tells them apart), uploaded with a progress bar. The name
 * starts as the file's name without its extensions.
 */
export function ImportImageForm(props: { project: string; onImported: (image: ImageView) => void; onCancel: () => void }) {
  const [file, setFile] = useState<File | null>(null);
  const [name, setName] = useState('');
  const [nameError, setNameError] = useState('');
  const [progress, setProgress] = useState<UploadProgress | null>(null);
  const [error, setError] = useState<unknown>(null);
  const abort = useRef<AbortController | null>(null);
  const fileInput = useRef<HTMLInputElement>(null);
  // leaving the page (or another project in view) cancels an upload in flight
  useEffect(() => () => abort.current?.abort(), []);

  const choose = (chosen: File | null) => {
    setFile(chosen);
    setError(null);
    setProgress(null);
    if (chosen) setName(imageNameOfFile(chosen.name));
  };

  const submit = async (event: Event) => {
    event.preventDefault();
    setError(null);
    const trimmed = name.trim();
    setNameError(IMAGE_NAME.test(trimmed) ? '' : IMAGE_NAME_MESSAGE);
    if (!file || !IMAGE_NAME.test(trimmed)) return;
    abort.current = new AbortController();
    setProgress({ sent: 0, total: file.size });
    try {
      const image = await upload<ImageView>(
        inProject(`/images?name=${encodeURIComponent(trimmed)}`, props.project),
        file,
        setProgress,
        abort.current.signal,
      );
      notify(`${image.name} imported into project ${image.project}: ${image.layers.length} layer${image.layers.length === 1 ? '' : 's'}`);
      setFile(null);
      setName('');
      // a file input keeps its choice on its own: emptied, it says no file is chosen
      if (fileInput.current) fileInput.current.value = '';
      setProgress(null);
      props.onImported(image);
    } catch (err) {
      setError(err);
      setProgress(null);
    } finally {
      abort.current = null;
    }
  };

  const busy = progress !== null;
  const percent = progress ? percentOf(progress.sent, progress.total) : 0;
  return (
    <form class="create-form image-form" aria-label="Import an image" onSubmit={(e) => void submit(e)} noValidate>
      <fieldset>
        <legend>Import an image</legend>
        <Field id="import-file" label="Archive" hint="OCI layout, docker save or a rootfs tarball; plain, gzip or zstd" errors={[]}>
          <input
            id="import-file"
            ref={fileInput}
            type="file"
            disabled={busy}
            onChange={(e) => choose(e.currentTarget.files?.[0] ?? null)}
          />
        </Field>
        <Field
          id="import-name"
          label="Name"
          hint="name[:tag]; the file's name without its extensions unless you change it"
          errors={nameError ? [{ path: 'name', message: nameError }] : []}
        >
          <input
            id="import-name"
            name="name"
            autoComplete="off"
            disabled={busy}
            value={name}
            onInput={(e) => setName(e.currentTarget.value)}
          />
        </Field>
      </fieldset>
      {progress && (
        <div class="transfer" data-testid="upload-progress">
          <progress max={100} value={percent} aria-label="Upload progress" />
          <span>
            {percent < 100
              ? `${bytes(progress.sent)} of ${bytes(progress.total)} sent (${percent}%)`
              : `${bytes(progress.total)} sent; the server is unpacking and checking it…`}
          </span>
        </div>
      )}
      {Boolean(error) && (
        <div class="banner error" role="alert" data-testid="import-error">
          Import failed: {describeError(error)}
        </div>
      )}
      <div class="form-actions">
        <button type="submit" class="primary" disabled={busy || !file}>
          {busy ? 'Importing…' : 'Import'}
        </button>
        {busy ? (
          <button type="button" onClick={() => abort.current?.abort()}>
            Cancel upload
          </button>
        ) : (
          <button type="button" onClick={props.onCancel}>
            Close
          </button>
        )}
      </div>
    </form>
  );
}
