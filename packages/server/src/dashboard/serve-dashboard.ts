import { join } from 'node:path';
import express from 'express';

/** Serves the built dashboard (a single-page app) at /, with index.html for its client-side routes. */
export function serveDashboard(dir: string): express.RequestHandler {
  const router = express.Router();
  router.use(
    express.static(dir, {
      index: 'index.html',
      maxAge: '1h',
      setHeaders: (res, path) => {
        if (path.endsWith('index.html')) res.setHeader('Cache-Control', 'no-cache');
      },
    }),
  );
  router.get(/^\/(?!api\/|healthz|metrics).*/, (_req, res) => {
    res.setHeader('Cache-Control', 'no-cache');
    res.sendFile(join(dir, 'index.html'));
  });
  return router;
}
