import { cloneElement, toChildArray, type ComponentChildren } from 'preact';
import type { ValidationIssue } from '../api';

/** A labelled field with its hint and the API's messages for it (linked by aria-describedby). */
export function Field(props: {
  id: string;
  label: string;
  hint?: string;
  errors: ValidationIssue[];
  inline?: boolean;
  children: ComponentChildren;
}) {
  const errorId = `${props.id}-error`;
  const hintId = `${props.id}-hint`;
  const invalid = props.errors.length > 0;
  return (
    <div class={`field ${props.inline ? 'inline' : ''} ${invalid ? 'invalid' : ''}`} data-field={props.id}>
      <label for={props.id}>{props.label}</label>
      <DescribedBy ids={[props.hint ? hintId : '', invalid ? errorId : ''].filter(Boolean).join(' ')} invalid={invalid}>
        {props.children}
      </DescribedBy>
      {props.hint && (
        <span id={hintId} class="hint">
          {props.hint}
        </span>
      )}
      {invalid && (
        <span id={errorId} class="field-error">
          {props.errors.map((e) => e.message).join('; ')}
        </span>
      )}
    </div>
  );
}

/** Adds aria-describedby / aria-invalid to the first control inside. */
function DescribedBy(props: { ids: string; invalid: boolean; children: ComponentChildren }) {
  const children = toChildArray(props.children);
  const first = children[0];
  if (first && typeof first === 'object') {
    children[0] = cloneElement(first, { 'aria-describedby': props.ids || undefined, 'aria-invalid': props.invalid ? 'true' : undefined });
  }
  return <>{children}</>;
}
