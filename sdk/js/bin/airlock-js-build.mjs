#!/usr/bin/env node
// airlock-js-build ENTRY -o OUT.wasm [--wit DIR] [--check]
//
// Builds a tool written in JavaScript or TypeScript into a component of
// the `airlock:tool` world: with `--check`, type-checks a TypeScript ENTRY
// first (tsc --strict against the SDK's types); bundles ENTRY with what it
// imports (rolldown: TypeScript types are stripped; `airlock-sdk` is always
// this SDK), then componentizes the bundle with componentize-js (the JS
// engine is initialised at build time, never per call).

import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { componentize } from '@bytecodealliance/componentize-js';
import { rolldown } from 'rolldown';

const sdk = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const usage = 'usage: airlock-js-build ENTRY.(js|ts) -o OUT.wasm [--wit DIR] [--check]';

function fail(message) {
  console.error(`airlock-js-build: ${message}`);
  process.exit(2);
}

let parsed;
try {
  parsed = parseArgs({
    allowPositionals: true,
    options: {
      out: { type: 'string', short: 'o' },
      wit: { type: 'string' },
      check: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
} catch (error) {
  fail(`${error.message}\n${usage}`);
}
const { values, positionals } = parsed;
if (values.help) {
  console.log(usage);
  process.exit(0);
}
if (positionals.length !== 1 || !values.out) fail(usage);
const entry = resolve(positionals[0]);
// The WIT world: --wit, or the airlock checkout this SDK is part of.
const wit = resolve(values.wit ?? join(sdk, '..', '..', 'wit'));
for (const [what, path] of [['entry', entry], ['WIT directory (--wit)', wit]]) {
  try {
    await stat(path);
  } catch {
    fail(`${what} not found: ${path}`);
  }
}

/** Type-checks `entry` with tsc (strict), `airlock-sdk` resolved to the
 * SDK's type definitions; exits naming every error. */
async function typeCheck(entry, work) {
  const config = join(work, 'tsconfig.json');
  await writeFile(
    config,
    JSON.stringify({
      compilerOptions: {
        strict: true,
        noEmit: true,
        target: 'ES2022',
        module: 'ESNext',
        moduleResolution: 'Bundler',
        lib: ['ES2022', 'DOM'],
        types: [],
        skipLibCheck: true,
        paths: { 'airlock-sdk': [join(sdk, 'src', 'index.d.ts')] },
      },
      files: [entry],
    }),
  );
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const checked = spawnSync(process.execPath, [tsc, '-p', config], { encoding: 'utf8' });
  if (checked.status !== 0) fail(`type errors in ${entry}:\n${checked.stdout}${checked.stderr}`);
}

const work = await mkdtemp(join(tmpdir(), 'airlock-js-build-'));
// `fail` exits at once, past any `finally`: the work directory goes first.
process.on('exit', () => rmSync(work, { recursive: true, force: true }));
try {
  if (values.check && /\.[cm]?tsx?$/.test(entry)) await typeCheck(entry, work);
  const bundle = await rolldown({
    input: entry,
    platform: 'neutral',
    external: [/^wasi:/, /^airlock:/],
    resolve: { alias: { 'airlock-sdk': join(sdk, 'src', 'index.js') } },
    logLevel: 'warn',
  });
  const source = join(work, 'tool.js');
  await bundle.write({ file: source, format: 'esm' });
  await bundle.close();
  const { component } = await componentize({ sourcePath: source, witPath: wit, worldName: 'tool' });
  await writeFile(values.out, component);
  console.error(`airlock-js-build: wrote ${values.out} (${(component.length / 1048576).toFixed(1)} MiB)`);
} catch (error) {
  fail(error?.message ?? String(error));
}
