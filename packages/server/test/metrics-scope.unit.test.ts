import { describe, expect, it } from 'vitest';
import { withoutOtherProjects } from '../src/api/routes/system-routes';

describe('withoutOtherProjects', () => {
  it("keeps a project's own per-container samples and every fleet-wide line, and drops other projects' samples", () => {
    const text = [
      '# HELP nagaya_container_pids Processes and threads in a running container',
      '# TYPE nagaya_container_pids gauge',
      'nagaya_container_pids{container="web",project="alpha",node="n1"} 3',
      'nagaya_container_pids{container="secret",project="beta",node="n1"} 5',
      'nagaya_container_pids{project="alphabet",container="x",node="n1"} 1',
      'nagaya_http_requests_total{method="GET"} 7',
    ].join('\n');
    expect(withoutOtherProjects(text, 'alpha').split('\n')).toEqual([
      '# HELP nagaya_container_pids Processes and threads in a running container',
      '# TYPE nagaya_container_pids gauge',
      'nagaya_container_pids{container="web",project="alpha",node="n1"} 3',
      'nagaya_http_requests_total{method="GET"} 7',
    ]);
  });
});
