import type { Request, Response } from 'express';
import { rfc3339Nano } from '@nagaya/native';
import type { ContainerLogService, LogsRequest } from '../../services/container-log-service';

/** What a followed log may have waiting for a slow client before the API lets the client go. */
const SLOW_CLIENT_BYTES = 8 * 1024 * 1024;

/**
 * Answers GET /containers/:name/logs?follow=1: chunked text/plain (the raw lines, each after its
 * time if asked), or Server-Sent Events with Accept: text/event-stream (an event per line, its id
 * the position just after the line, which Last-Event-ID resumes from: no gap, no repeat). Ends with
 * the container, or when the client leaves (the node's follower is released with it).
 */
export async function answerFollowedLogs(
  req: Request,
  res: Response,
  logs: ContainerLogService,
  project: string,
  name: string,
  request: LogsRequest,
): Promise<void> {
  const sse = /\btext\/event-stream\b/.test(req.headers.accept ?? '');
  const lastEventId = sse ? req.headers['last-event-id'] : undefined;
  const from = typeof lastEventId === 'string' && /^\d{1,15}$/.test(lastEventId) ? Number(lastEventId) : undefined;
  const client = new AbortController();
  const leave = () => client.abort();
  res.on('close', leave);
  try {
    await logs.followLogs(
      project,
      name,
      { ...request, ...(from !== undefined ? { from } : {}) },
      {
        started() {
          res.status(200);
          res.setHeader('content-type', sse ? 'text/event-stream; charset=utf-8' : 'text/plain; charset=utf-8');
          res.setHeader('cache-control', 'no-store');
          res.setHeader('x-accel-buffering', 'no'); // a proxy in front must not hold lines back
          res.flushHeaders();
          if (sse) res.write('retry: 1000\n\n');
        },
        line(data, timeNs, end) {
          // a client that reads slower than the container writes would have the API buffer without
          // end: it is let go (an SSE client resumes from its Last-Event-ID)
          if (res.writableLength > SLOW_CLIENT_BYTES) {
            client.abort();
            return;
          }
          const stamp = request.timestamps ? `${rfc3339Nano(timeNs)} ` : '';
          if (!sse) {
            res.write(stamp ? Buffer.concat([Buffer.from(stamp), data]) : data);
            return;
          }
          // SSE carries text, a line per data field: a line's own CR or LF would split it
          const text = (stamp + data.toString('utf8')).replace(/\r?\n$/, '');
          res.write(
            `id: ${end}\n${text
              .split(/\r\n|\r|\n/)
              .map((part) => `data: ${part}\n`)
              .join('')}\n`,
          );
        },
        ended(reason, message) {
          if (sse) res.write(`event: end\ndata: ${JSON.stringify({ reason, ...(message ? { message } : {}) })}\n\n`);
        },
      },
      client.signal,
    );
  } finally {
    res.off('close', leave);
  }
  if (res.headersSent && !res.writableEnded) res.end();
}
