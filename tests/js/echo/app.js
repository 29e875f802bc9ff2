// echo in JavaScript: returns its input. The trivial tool the per-call
// numbers of the JS SDK are measured with (docs/performance.md), as the
// Rust `echo` test program is for Rust tools.

import { s, tool } from 'airlock-sdk';

const message = s.object({ message: s.optional(s.any()) });

export const { describe, invoke } = tool({
  name: 'js-echo',
  version: '0.0.0',
  description: 'Returns its input.',
  input: message,
  output: message,
  run: (input) => input,
});
