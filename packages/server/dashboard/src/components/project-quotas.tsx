// A project's quotas: the table of use against limits, and the form fields that set them.
import type { ValidationIssue } from '../api';
import { type Column, DataTable } from './data-table';
import { Field } from './field';
import { bytes, readMebibytesOrSize } from '../format';
import { QUOTA_MEANINGS, QUOTA_NAMES, type ProjectView, type QuotaName } from '@nagaya/contract';

const MIB = 1024 * 1024;

/** How each quota is named, typed into a form (bytes as MiB) and shown. */
const QUOTAS: Record<QuotaName, { label: string; unit?: 'MiB'; decimal?: boolean; show: (n: number) => string }> = {
  containers: { label: 'Containers', show: String },
  slices: { label: 'ID slices', show: String },
  memoryBytes: { label: 'Memory', unit: 'MiB', show: bytes },
  cpus: { label: 'CPUs', decimal: true, show: (n) => String(Math.round(n * 100) / 100) },
  processes: { label: 'Processes', show: String },
  diskBytes: { label: 'Image disk', unit: 'MiB', show: bytes },
  networkInterfaces: { label: 'Network interfaces', show: String },
};

/** Every project with its quotas (used against limit), raw ID map permission and description; admins of every project create and edit. */
/** Use against limit per quota: a bar only where a limit exists, red past it (a quota lowered below use). */
export function QuotaTable(props: { project: ProjectView }) {
  const p = props.project;
  const columns: Column<QuotaName>[] = [
    { header: 'Quota', rowHeader: true, title: (q) => QUOTA_MEANINGS[q], cell: (q) => QUOTAS[q].label },
    { header: 'Used', className: 'num', cell: (q) => QUOTAS[q].show(p.quotas[q].used) },
    {
      header: 'Limit',
      className: 'num',
      cell: (q) => {
        const { limit } = p.quotas[q];
        return limit === null ? <span class="muted">no limit</span> : QUOTAS[q].show(limit);
      },
    },
    {
      header: 'Use',
      headerClass: 'quota-use-head',
      cell: (q) => {
        const { used, limit } = p.quotas[q];
        return limit !== null && <QuotaBar label={QUOTAS[q].label} used={used} limit={limit} show={QUOTAS[q].show} />;
      },
    },
  ];
  return (
    <div class="table-wrap">
      <DataTable className="quotas" columns={columns} rows={QUOTA_NAMES} rowKey={(q) => q} rowAttributes={(q) => ({ 'data-quota': q })} />
    </div>
  );
}

/** How full a quota is: ok, near (80% and up), full (at the limit: nothing more fits) or over (past it). */
function quotaLevel(used: number, limit: number): 'ok' | 'near' | 'full' | 'over' {
  if (used > limit) return 'over';
  if (used === limit) return 'full';
  return used >= 0.8 * limit ? 'near' : 'ok';
}

function QuotaBar(props: { label: string; used: number; limit: number; show: (n: number) => string }) {
  const { used, limit } = props;
  const level = quotaLevel(used, limit);
  const percent = limit > 0 ? Math.min(100, (100 * used) / limit) : used > 0 ? 100 : 0;
  const text = `${props.show(used)} of ${props.show(limit)}`;
  return (
    <div class={`quota-use ${level}`} data-used={used} data-limit={limit} data-level={level}>
      <div class="bar quota-bar" role="img" aria-label={`${props.label}: ${text}${level === 'over' ? ', over quota' : ''}`}>
        <span class="bar-part quota-fill" style={{ width: `${percent}%` }} />
      </div>
      <span class="quota-text">
        {text}
        {level === 'over' && <strong> · over by {props.show(used - limit)}</strong>}
        {level === 'full' && ' · full'}
      </span>
    </div>
  );
}

/** The text a quota's input starts with: its limit (bytes as MiB), or empty for none. */
export function quotaText(q: QuotaName, limit: number | null | undefined): string {
  if (limit === null || limit === undefined) return '';
  return String(QUOTAS[q].unit === 'MiB' ? limit / MIB : limit);
}

/** Reads a quota's input: undefined when empty, the limit in the API's unit, or a message why not. */
function readQuota(q: QuotaName, text: string): { value?: number; error?: string } {
  const t = text.trim();
  if (t === '') return {};
  const spec = QUOTAS[q];
  if (spec.unit === 'MiB') {
    const size = readMebibytesOrSize(t);
    return size.error ? { error: `${size.error} (empty: no limit)` } : { value: size.bytes! };
  }
  const n = Number(t);
  if (!Number.isFinite(n) || n < 0) return { error: 'a number, 0 or more (empty: no limit)' };
  if (spec.decimal) return n > 1_000_000 ? { error: 'at most 1000000' } : { value: n };
  if (!Number.isInteger(n)) return { error: 'a whole number' };
  return n > Number.MAX_SAFE_INTEGER ? { error: 'too large' } : { value: n };
}

/** Where an API issue path lands in these forms: "quotas.containers" → that field, "name" → name, else the banner. */
export function fieldOfIssue(path: string): string {
  const quota = /^quotas\.(\w+)/.exec(path);
  if (quota && (QUOTA_NAMES as readonly string[]).includes(quota[1]!)) return `quotas.${quota[1]}`;
  return path === 'name' || path === 'description' ? path : '';
}

/** The quota inputs of both forms; empty means no limit. */
export function QuotaFields(props: {
  idPrefix: string;
  values: Record<QuotaName, string>;
  onChange: (q: QuotaName, value: string) => void;
  errorsFor: (field: string) => ValidationIssue[];
}) {
  return (
    <fieldset class="quota-fields">
      <legend>Quotas</legend>
      <p class="hint muted">Empty: no limit. A limit below what the project uses already stops new creates; nothing existing is touched.</p>
      {QUOTA_NAMES.map((q) => {
        const spec = QUOTAS[q];
        const id = `${props.idPrefix}quotas.${q}`;
        return (
          <Field
            key={q}
            id={id}
            label={`${spec.label}${spec.unit ? ` (${spec.unit})` : ''}`}
            hint={spec.unit ? `${QUOTA_MEANINGS[q]}; or with a unit: 512M, 2G, 1.5GiB` : QUOTA_MEANINGS[q]}
            errors={props.errorsFor(`quotas.${q}`)}
          >
            <input
              id={id}
              name={q}
              // sizes take units (512M, 2G), which a number input refuses
              {...(spec.unit ? { type: 'text', spellcheck: false } : { type: 'number', min: 0, step: spec.decimal ? 'any' : 1 })}
              inputMode={spec.unit || spec.decimal ? 'decimal' : 'numeric'}
              placeholder="no limit"
              value={props.values[q]}
              onInput={(e) => props.onChange(q, e.currentTarget.value)}
            />
          </Field>
        );
      })}
    </fieldset>
  );
}

export const noQuotas = () => Object.fromEntries(QUOTA_NAMES.map((q) => [q, ''])) as Record<QuotaName, string>;

/** Reads every quota input: the values the API takes, and the inputs it would refuse. */
export function readQuotas(values: Record<QuotaName, string>, only?: (q: QuotaName) => boolean) {
  const quotas: Partial<Record<QuotaName, number | null>> = {};
  const issues: ValidationIssue[] = [];
  for (const q of QUOTA_NAMES) {
    if (only && !only(q)) continue;
    const read = readQuota(q, values[q]);
    if (read.error) issues.push({ path: `quotas.${q}`, message: read.error });
    else quotas[q] = read.value ?? null;
  }
  return { quotas, issues };
}
