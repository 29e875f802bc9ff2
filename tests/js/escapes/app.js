// A JavaScript tool that tries, on request, what a sandboxed tool must not
// be able to do, for runtime/cli/tests/cli/js_sdk.rs (and sends a secret
// by handle, as it may). The file attempts use `wasi:filesystem` directly,
// not the SDK's `fs` (which refuses paths no mount holds by itself), so
// the sandbox is what is tested. Each attempt reports what it saw or lets
// the refusal fail the call; the test checks it was denied or stopped and
// that the canary appears nowhere.

import { getDirectories } from 'wasi:filesystem/preopens@0.2.12';
import { Capabilities, env, fs, http, s, secrets, tool } from 'airlock-sdk';

const ATTEMPTS = ['env', 'dotdot', 'absolute', 'symlink', 'host', 'private', 'reveal', 'bearer', 'files', 'loop', 'memory'];

function workspace() {
  const [descriptor] = getDirectories().find(([, path]) => path === '/workspace');
  return descriptor;
}

/** Opens `path` in the mount with raw WASI and reads it, or says why not. */
function rawRead(path) {
  try {
    const file = workspace().openAt({ symlinkFollow: true }, path, {}, { read: true });
    const [bytes] = file.read(1n << 20n, 0n);
    return `read: ${new TextDecoder().decode(bytes)}`;
  } catch (error) {
    return `refused: ${error?.payload ?? error}`;
  }
}

export const { describe, invoke } = tool({
  name: 'js-escapes',
  version: '0.0.0',
  description: 'airlock test program: tries to leave the sandbox',
  input: s.object({ attempt: s.enum(ATTEMPTS), target: s.optional(s.string(), '') }),
  output: s.object({ attempt: s.string(), saw: s.any() }),
  capabilities: new Capabilities()
    .mount('/workspace', 'read-write', 'where the escapes start')
    .host('http://*:1-65535', 'where the requests go')
    .secret('TOKEN', 'the secret whose value it tries to read', true),
  run({ attempt, target }) {
    switch (attempt) {
      case 'env':
        return { attempt, saw: env.all() };
      case 'dotdot':
        return { attempt, saw: rawRead(`../${target}`) };
      case 'absolute':
        return { attempt, saw: rawRead(target) };
      case 'symlink': {
        const made = [];
        for (const [from, name] of [['/etc', 'abs'], ['../..', 'up']]) {
          try {
            workspace().symlinkAt(from, name);
            made.push(`${name}: made`);
          } catch (error) {
            made.push(`${name}: refused: ${error?.payload ?? error}`);
          }
        }
        return { attempt, saw: { made, abs: rawRead('abs/passwd'), up: rawRead(`up/${target}`) } };
      }
      case 'host':
      case 'private':
        return { attempt, saw: http.get(target).status };
      case 'reveal':
        return { attempt, saw: secrets.get('TOKEN').reveal() };
      case 'bearer':
        // Not an escape: the host attaches the value; the answer echoes it.
        return { attempt, saw: http.get(target, { bearer: secrets.get('TOKEN') }).text() };
      case 'files': {
        // Not an escape: the SDK's own file calls inside the mount.
        const path = `/workspace/${target}`;
        fs.writeFile(path, 'x'.repeat(100000));
        const entries = fs.readDir('/workspace').map((entry) => `${entry.name}:${entry.type}`).sort();
        return { attempt, saw: { size: fs.stat(path).size, read: fs.readText(path).length, entries, gone: fs.exists(`${path}.nope`) } };
      }
      case 'loop':
        for (;;) {}
      case 'memory': {
        const hoard = [];
        for (;;) hoard.push(new Uint8Array(16 << 20).fill(1));
      }
    }
    return { attempt, saw: null };
  },
});
