import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { NagayaError } from '../errors';

/**
 * The API's JSON body parsing: express.json, with three of its ways of turning garbage into an
 * empty change `{}` closed (the fuzzer found each as a PATCH /projects accepted):
 * - a body declared UTF-16 or UTF-32 is decoded as that, and one byte then decodes to nothing,
 *   taken for `{}`: JSON travels as UTF-8 (RFC 8259 §8.1), any other charset is refused;
 * - an empty body with a JSON content type is taken for `{}`: a request that carried no body
 *   bytes has no body (req.body undefined), so a route that needs one refuses it;
 * - a body declared `content-encoding: br` (or gzip, deflate) is inflated, and bytes that are no
 *   such stream may inflate to nothing: JSON bodies are small, and no client of ours compresses
 *   them, so a compressed one is refused (INVALID_INPUT) rather than inflated.
 */
export function jsonBody(limitBytes: number): RequestHandler[] {
  return [
    refuseNonUtf8Json,
    express.json({ limit: limitBytes, strict: true, inflate: false, type: ['application/json', 'application/*+json'] }),
    (req: Request, _res: Response, next: NextFunction) => {
      if (!carriesBody(req)) req.body = undefined;
      next();
    },
  ];
}

function refuseNonUtf8Json(req: Request, _res: Response, next: NextFunction): void {
  const type = req.headers['content-type'] ?? '';
  const charset = /json/i.test(type) ? /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(type)?.[1]?.toLowerCase() : undefined;
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
    next(new NagayaError('INVALID_INPUT', `request bodies are UTF-8 JSON; charset ${charset} is not taken`));
    return;
  }
  next();
}

/** Whether the request carried any body bytes. */
function carriesBody(req: Request): boolean {
  const length = req.headers['content-length'];
  if (length !== undefined) return Number(length) > 0;
  return req.headers['transfer-encoding'] !== undefined;
}
