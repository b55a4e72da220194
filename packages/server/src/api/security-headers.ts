import type { NextFunction, Request, Response } from 'express';

/**
 * Headers every response carries, the dashboard's and the API's alike: the dashboard loads its
 * scripts from its own origin only (no inline script, so an injected <script> does nothing), no
 * page may frame it (clickjacking), browsers do not guess content types, and no URL leaks to
 * another site through Referer. Styles may be inline: xterm.js (the container page's terminal)
 * writes its cell metrics and colours into <style> elements and style attributes, and has no
 * nonce option. An injected style runs nothing and, with images and fonts from 'self' only,
 * loads nothing from elsewhere.
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy':
    "default-src 'self'; style-src 'self' 'unsafe-inline'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
  'X-Frame-Options': 'DENY',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

export function securityHeaders(_req: Request, res: Response, next: NextFunction): void {
  res.set(SECURITY_HEADERS);
  next();
}
