import type { NextFunction, Request, Response } from 'express';

/**
 * Headers every response carries, the dashboard's and the API's alike: the dashboard loads its
 * script and stylesheet from its own origin only (no inline code, so an injected <script> or
 * style attribute does nothing), no page may frame it (clickjacking), browsers do not guess
 * content types, and no URL leaks to another site through Referer.
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': "default-src 'self'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
  'X-Frame-Options': 'DENY',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

export function securityHeaders(_req: Request, res: Response, next: NextFunction): void {
  res.set(SECURITY_HEADERS);
  next();
}
