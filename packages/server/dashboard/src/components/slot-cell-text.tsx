import { Link, ProjectTag } from './common';
import { ageOf, range } from '../format';
import { containerHref, projectOf, useProjectScope } from '../project';
import { cellRanges, CellState, LEGEND, type SlotModel } from '../slot-model';

const LABEL = new Map(LEGEND.map((l) => [l.state, l.label]));

/** What one cell is: slot, state, holder and the exact host ranges. */
export function CellText(props: { model: SlotModel; cell: number; colour: string; links?: boolean }) {
  const { model, cell } = props;
  const { current } = useProjectScope();
  const state = model.states[cell] as CellState;
  const a = model.owner[cell]! >= 0 ? model.allocations[model.owner[cell]!] : undefined;
  const ranges = cellRanges(model, cell);
  const who = (name: string) =>
    props.links ? <Link href={containerHref(name, projectOf(a?.project, current))}>{name}</Link> : <strong>{name}</strong>;
  const isRaw = a?.kind === 'raw';
  return (
    <div class="cell-text" data-slot={model.first + cell} data-state={LABEL.get(state)}>
      <div>
        <span class="swatch" style={{ background: props.colour }} aria-hidden="true" /> Slot {model.first + cell} ·{' '}
        <strong>{LABEL.get(state)}</strong>
        {a && a.state === 'quarantined' && state === CellState.free ? ' (quarantine over)' : ''}
      </div>
      {a?.container && (
        <div>
          {a.state === 'quarantined' ? 'was ' : ''}container {who(a.container)}
        </div>
      )}
      {a?.project && (
        <div data-testid="cell-project">
          project <ProjectTag name={a.project} />
        </div>
      )}
      {a && !a.container && a.owner && a.kind !== 'shared' && (
        <div>
          {a.state === 'quarantined' ? 'released by' : 'owner'} <span class="mono">{a.owner}</span>
        </div>
      )}
      {a?.kind === 'shared' && (
        <div>
          shared by{' '}
          {a.sharedBy?.length
            ? a.sharedBy.map((n, i) => (
                <span key={n}>
                  {i ? ', ' : ''}
                  {who(n)}
                </span>
              ))
            : 'nobody now'}
        </div>
      )}
      {isRaw ? (
        <>
          {a.uid && (
            <div>
              raw host uid <span class="mono">{range(a.uid.start, a.uid.count)}</span> → {a.nsUid} inside
            </div>
          )}
          {a.gid && (
            <div>
              raw host gid <span class="mono">{range(a.gid.start, a.gid.count)}</span> → {a.nsGid} inside
            </div>
          )}
        </>
      ) : (
        state !== CellState.outside && (
          <>
            <div>
              host uid{' '}
              <span class="mono" data-testid="cell-uid">
                {range(ranges.uid.start, ranges.uid.count)}
              </span>
            </div>
            <div>
              host gid{' '}
              <span class="mono" data-testid="cell-gid">
                {range(ranges.gid.start, ranges.gid.count)}
              </span>
            </div>
          </>
        )
      )}
      {a?.key && (
        <div>
          key <span class="mono">{a.key}</span>
        </div>
      )}
      {a && (a.slots ?? 1) > 1 && (
        <div>
          {a.slots} slots ({(a.slots ?? 1) * model.pool.sliceSize} IDs)
        </div>
      )}
      {a?.releasedAt && <div class="muted">released {ageOf(a.releasedAt)} ago</div>}
    </div>
  );
}
