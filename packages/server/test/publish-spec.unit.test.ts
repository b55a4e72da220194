import { describe, expect, it } from 'vitest';
import { parsePublish } from '../src/cli/publish-spec';

describe('parsePublish (nagaya launch --publish)', () => {
  it('reads [hostIp:]hostPort:containerPort[/tcp|udp], tcp by default', () => {
    expect(parsePublish('8080:80')).toEqual({ hostPort: 8080, containerPort: 80, protocol: 'tcp' });
    expect(parsePublish('127.0.0.1:8080:80/udp')).toEqual({ hostPort: 8080, containerPort: 80, protocol: 'udp', hostIp: '127.0.0.1' });
    expect(parsePublish('0.0.0.0:53:53/tcp')).toEqual({ hostPort: 53, containerPort: 53, protocol: 'tcp', hostIp: '0.0.0.0' });
  });

  it('refuses what is not one', () => {
    for (const bad of ['', '80', '80:', ':80', '8080:80/sctp', 'localhost:8080:80', '[::1]:8080:80', '8080:80:90', '8080-8081:80']) {
      expect(parsePublish(bad), bad).toBeUndefined();
    }
  });
});
