// {{name}}: counts the lines, words and bytes of a file under /workspace.

import { Capabilities, fs, log, s, tool } from 'airlock-sdk';

export const { describe, invoke } = tool({
  name: '{{name}}',
  version: '0.1.0',
  description: 'Counts the lines, words and bytes of a file under /workspace.',
  input: s.object({ path: s.string({ description: 'the file to count, relative to /workspace' }) }),
  output: s.object({ path: s.string(), lines: s.integer(), words: s.integer(), bytes: s.integer() }),
  // Only what it needs: one directory, read-only. Add a host with
  // `.host('https://api.example.com', 'why')` and call `http.get(url)`.
  capabilities: new Capabilities().mount('/workspace', 'read-only', 'the file to count'),
  run({ path }) {
    const data = fs.readFile(`/workspace/${path}`);
    log.info('counted', { path });
    const text = new TextDecoder().decode(data);
    const lines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
    const words = text.split(/\s+/).filter((word) => word.length > 0).length;
    return { path, lines, words, bytes: data.length };
  },
});
