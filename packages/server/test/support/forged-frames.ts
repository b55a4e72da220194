import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// What the spoofing tests send from inside a container: whole Ethernet frames built here (any
// source MAC and IP), written out of the container's eth0 by frame-tool.c, which goes into the
// container through one exec.

/** Builds frame-tool.c (freestanding, x86_64) and returns the binary as base64 (about 2,300 characters). */
export function buildFrameTool(): string {
  const dir = mkdtempSync(join(tmpdir(), 'nagaya-frame-tool-'));
  try {
    const out = join(dir, 'frame-tool');
    execFileSync('cc', [
      '-static',
      '-nostdlib',
      '-Os',
      '-s',
      '-fno-stack-protector',
      '-fno-builtin',
      '-fcf-protection=none',
      '-fno-asynchronous-unwind-tables',
      // one page, not four: it must fit in one exec argument (4096 characters) as base64
      '-Wl,--build-id=none,-z,norelro,-z,noseparate-code',
      '-o',
      out,
      join(__dirname, 'frame-tool.c'),
    ]);
    return readFileSync(out).toString('base64');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The shell line that puts frame-tool (base64 from buildFrameTool) at /tmp/frame-tool in a container. */
export function installFrameTool(base64: string): string {
  return `echo ${base64} | base64 -d > /tmp/frame-tool && chmod 755 /tmp/frame-tool`;
}

export interface UdpFrame {
  dstMac: string;
  srcMac: string;
  srcIp: string;
  dstIp: string;
  port: number;
  payload: string;
}

/** An Ethernet frame carrying one IPv4 UDP datagram (no UDP checksum, as IPv4 allows), as hex. */
export function udpFrame(f: UdpFrame): string {
  const data = Buffer.from(f.payload);
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + 8 + data.length, 2);
  ip.writeUInt16BE(0x4000, 6); // don't fragment
  ip[8] = 64;
  ip[9] = 17;
  Buffer.from(f.srcIp.split('.').map(Number)).copy(ip, 12);
  Buffer.from(f.dstIp.split('.').map(Number)).copy(ip, 16);
  ip.writeUInt16BE(checksum(ip), 10);
  const udp = Buffer.alloc(8);
  udp.writeUInt16BE(40_000, 0);
  udp.writeUInt16BE(f.port, 2);
  udp.writeUInt16BE(8 + data.length, 4);
  const mac = (m: string) => Buffer.from(m.split(':').map((h) => Number.parseInt(h, 16)));
  const ethernet = Buffer.concat([mac(f.dstMac), mac(f.srcMac), Buffer.from([0x08, 0x00])]);
  return Buffer.concat([ethernet, ip, udp, data]).toString('hex');
}

function checksum(header: Buffer): number {
  let sum = 0;
  for (let i = 0; i < header.length; i += 2) sum += header.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}
