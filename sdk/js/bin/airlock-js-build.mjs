#!/usr/bin/env node
// airlock-js-build ENTRY -o OUT.wasm [--wit DIR]
//
// Builds a tool written in JavaScript or TypeScript into a component of
// the `airlock:tool` world: bundles ENTRY with what it imports (rolldown:
// TypeScript types are stripped, not checked; `airlock-sdk` is always this
// SDK), then componentizes the bundle with componentize-js (the JS engine
// is initialised at build time, never per call).

import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { componentize } from '@bytecodealliance/componentize-js';
import { rolldown } from 'rolldown';

const sdk = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const usage = 'usage: airlock-js-build ENTRY.(js|ts) -o OUT.wasm [--wit DIR]';

function fail(message) {
  console.error(`airlock-js-build: ${message}`);
  process.exit(2);
}

let parsed;
try {
  parsed = parseArgs({
    allowPositionals: true,
    options: { out: { type: 'string', short: 'o' }, wit: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
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

const work = await mkdtemp(join(tmpdir(), 'airlock-js-build-'));
try {
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
} finally {
  await rm(work, { recursive: true, force: true });
}
