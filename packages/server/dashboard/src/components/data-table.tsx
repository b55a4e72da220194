import type { ComponentChildren } from 'preact';

/** What a row carries besides its cells: a class, an id, and the data-* hooks the tests and styles find it by. */
export type RowAttributes = { class?: string; id?: string } & { [data: `data-${string}`]: string | number | undefined };

/** One column of a DataTable: its header, how each row fills its cell, and when it is shown at all. */
export interface Column<Row> {
  /** The header's text; read out to screen readers even when hidden. */
  header: string;
  /** Hide the header's text from sight (a column of buttons), keeping it for screen readers. */
  hideHeader?: boolean;
  /** The header cell's class. */
  headerClass?: string;
  /** The cell's content for one row. */
  cell: (row: Row) => ComponentChildren;
  /** Whether the column is shown (e.g. Project only when every project is in view); shown when left out. */
  shown?: boolean;
  /** The class of each of its cells. */
  className?: string;
  /** The hover text of one row's cell (the full id or time behind a short one). */
  title?: (row: Row) => string | undefined;
  /** A data-testid on each of its cells, for the browser tests. */
  testId?: string;
  /** The cell heads its row (`<th scope="row">`), so a screen reader names the row's other cells by it. */
  rowHeader?: boolean;
}

/** A row opened under another (a run's output, an image's layers), spanning every shown column. */
export interface DetailRow {
  content: ComponentChildren;
  attributes?: RowAttributes;
}

/**
 * A table of rows under column headers, the one markup every list of the dashboard uses: headers
 * with scope="col", optional columns left out whole (header and cells), an optional row opened
 * under each row, and an empty-state line that spans the columns shown.
 */
export function DataTable<Row>(props: {
  columns: Column<Row>[];
  rows: readonly Row[];
  rowKey: (row: Row, index: number) => string | number;
  rowAttributes?: (row: Row) => RowAttributes;
  detail?: (row: Row) => DetailRow | null;
  /** What the table says when it has no rows; no line at all when left out. */
  empty?: ComponentChildren;
  className?: string;
  testId?: string;
}) {
  const columns = props.columns.filter((c) => c.shown !== false);
  return (
    <table class={props.className} data-testid={props.testId}>
      <thead>
        <tr>
          {columns.map((c) => (
            <th key={c.header} scope="col" class={c.headerClass}>
              {c.hideHeader ? <span class="sr-only">{c.header}</span> : c.header}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {props.rows.map((row, index) => {
          const key = props.rowKey(row, index);
          const detail = props.detail?.(row);
          return [
            <tr key={key} {...props.rowAttributes?.(row)}>
              {columns.map((c) => {
                const Cell = c.rowHeader ? 'th' : 'td';
                return (
                  <Cell
                    key={c.header}
                    scope={c.rowHeader ? 'row' : undefined}
                    class={c.className}
                    title={c.title?.(row)}
                    data-testid={c.testId}
                  >
                    {c.cell(row)}
                  </Cell>
                );
              })}
            </tr>,
            detail && (
              <tr key={`${key}:detail`} {...detail.attributes}>
                <td colSpan={columns.length}>{detail.content}</td>
              </tr>
            ),
          ];
        })}
        {props.rows.length === 0 && props.empty !== undefined && (
          <tr>
            <td colSpan={columns.length} class="muted">
              {props.empty}
            </td>
          </tr>
        )}
      </tbody>
    </table>
  );
}
