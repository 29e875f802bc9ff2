// Progress of a long call, sent to an MCP client that gave a progress
// token. The host passes on reports whose `done` grows, at most one every
// 25 ms (always the final one); messages are redacted and cut to 1 KiB.

import { report as wit } from 'airlock:tool/progress@0.1.0';

/** `done` of `total` (optional), with an optional message. */
export function report(done, total, message) {
  wit(BigInt(done), total === undefined || total === null ? undefined : BigInt(total), message ?? undefined);
}
