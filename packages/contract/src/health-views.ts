// What /healthz returns.

/** GET /healthz. */
export interface HealthView {
  status: 'ok' | 'unavailable';
  dependencies: Record<string, 'ok' | 'down'>;
  error?: { code: 'UNAVAILABLE'; message: string };
}
