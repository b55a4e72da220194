import { describe, expect, it } from 'vitest';
import { lastExitText, restartPolicyText, stopText } from '../src/container-text';

describe('container text for people', () => {
  it('writes a restart policy as --restart takes it', () => {
    expect(restartPolicyText({ name: 'no' })).toBe('no');
    expect(restartPolicyText({ name: 'always' })).toBe('always');
    expect(restartPolicyText({ name: 'on-failure' })).toBe('on-failure');
    expect(restartPolicyText({ name: 'on-failure', maxRetries: 0 })).toBe('on-failure:0');
    expect(restartPolicyText({ name: 'on-failure', maxRetries: 3 })).toBe('on-failure:3');
  });

  it('says how a run ended: exit code, signal, error', () => {
    const finishedAt = '2026-12-07T14:00:00.000Z';
    expect(lastExitText({ exitCode: 3, signal: null, finishedAt, error: null })).toBe('exit code 3');
    expect(lastExitText({ exitCode: 0, signal: null, finishedAt, error: null })).toBe('exit code 0');
    expect(lastExitText({ exitCode: null, signal: 'SIGKILL', finishedAt, error: { code: 'KILLED', message: 'killed' } })).toBe(
      'signal SIGKILL, KILLED: killed',
    );
    expect(lastExitText({ exitCode: null, signal: null, finishedAt, error: null })).toBe('ended');
  });

  it('says what a stop sends, and that SIGKILL first has no grace', () => {
    expect(stopText('SIGTERM', 10)).toBe('SIGTERM, then SIGKILL after 10 s');
    expect(stopText('SIGINT', 0)).toBe('SIGINT, then SIGKILL after 0 s');
    expect(stopText('SIGKILL', 10)).toBe('SIGKILL at once');
  });
});
