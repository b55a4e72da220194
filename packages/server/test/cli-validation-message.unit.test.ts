import { describe, expect, it } from 'vitest';
import { ApiError } from '@nagaya/contract';
import { validationMessage } from '../src/cli/validation-message';

const refusal = (issues: Array<{ path: string; message: string }>) =>
  new ApiError(400, 'INVALID_INPUT', `${issues[0]!.path}: ${issues[0]!.message}`, { issues });

describe("the CLI's words for the API's validation issues", () => {
  it('name the option a field came from, with bounds and choices as sentences', () => {
    expect(validationMessage(refusal([{ path: 'limits.memoryBytes', message: 'Too small: expected number to be >=4194304' }]))).toBe(
      '--memory must be at least 4194304 bytes (4Mi)',
    );
    expect(validationMessage(refusal([{ path: 'limits.pids', message: 'Too big: expected number to be <=4194304' }]))).toBe(
      '--pids must be at most 4194304',
    );
    expect(
      validationMessage(refusal([{ path: 'restartPolicy.name', message: 'Invalid option: expected one of "no"|"on-failure"|"always"' }])),
    ).toBe('--restart takes one of no, on-failure, always');
    expect(validationMessage(refusal([{ path: 'stopTimeoutSeconds', message: 'Invalid input: expected int, received number' }]))).toBe(
      '--stop-timeout takes a whole number',
    );
    expect(validationMessage(refusal([{ path: 'quotas.diskBytes', message: 'Too small: expected number to be >=0' }]))).toBe(
      '--disk must be at least 0 bytes (0)',
    );
    expect(validationMessage(refusal([{ path: 'name', message: 'must be a DNS label' }]))).toBe('the name: must be a DNS label');
  });

  it('joins several issues and drops repeats', () => {
    expect(
      validationMessage(
        refusal([
          { path: 'idmap.size', message: 'Too small: expected number to be >=65536' },
          { path: 'idmap.size', message: 'Invalid number: must be a multiple of 65536' },
          { path: 'limits.cpus', message: 'Too small: expected number to be >=0.01' },
          { path: 'limits.cpus', message: 'Too small: expected number to be >=0.01' },
        ]),
      ),
    ).toBe('--size must be at least 65536; --size must be a multiple of 65536; --cpus must be at least 0.01');
  });

  it("leaves the API's own message when a field has no option, or the error is no validation", () => {
    expect(validationMessage(refusal([{ path: 'security.nesting', message: 'nope' }]))).toBeUndefined();
    expect(validationMessage(new ApiError(404, 'NOT_FOUND', 'no container named x'))).toBeUndefined();
    expect(validationMessage(new ApiError(400, 'INVALID_INPUT', 'bad', { other: true }))).toBeUndefined();
  });
});

describe('bytes in the bounds', () => {
  it('only for fields that count bytes: volumes create --size does, launch --size (IDs) does not', () => {
    expect(validationMessage(refusal([{ path: 'sizeBytes', message: 'Too small: expected number to be >=1048576' }]))).toBe(
      '--size must be at least 1048576 bytes (1Mi)',
    );
    expect(validationMessage(refusal([{ path: 'idmap.size', message: 'Too small: expected number to be >=65536' }]))).toBe(
      '--size must be at least 65536',
    );
  });
});
