import { NagayaError } from '../errors';

/**
 * The SQLSTATEs of class NQ that the projects migration's triggers raise, and the API error each
 * is answered with. The trigger's DETAIL (JSON) becomes the error's details.
 */
const BY_SQLSTATE: Record<string, NagayaError['code']> = {
  NQ001: 'QUOTA_EXCEEDED',
  NQ002: 'NOT_FOUND',
  NQ003: 'INVALID_INPUT',
  NQ004: 'FORBIDDEN',
};

/**
 * Makes the reader of one family of our own SQLSTATEs: an error whose code is in `bySqlState`
 * becomes that API error, its message kept and its JSON DETAIL as details; any other error, undefined.
 */
export function sqlRefusalReader(bySqlState: Record<string, NagayaError['code']>): (err: unknown) => NagayaError | undefined {
  return (err) => {
    const e = err as { code?: string; message?: string; detail?: string };
    const code = e?.code ? bySqlState[e.code] : undefined;
    if (!code) return undefined;
    let details: unknown;
    try {
      details = e.detail ? JSON.parse(e.detail) : undefined;
    } catch {
      details = undefined;
    }
    return new NagayaError(code, e.message ?? code, details, { cause: err });
  };
}

/** Returns the API error for a project trigger's refusal; undefined for any other error. */
export const projectRefusalOf = sqlRefusalReader(BY_SQLSTATE);

/** A foreign key to project that failed: the project was deleted between the check and the write. */
export function isMissingProject(err: unknown): boolean {
  const e = err as { code?: string; constraint?: string };
  return e?.code === '23503' && /project/.test(e.constraint ?? '');
}
