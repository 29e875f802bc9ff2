// link-check: finds broken links in the Markdown files of a mounted
// checkout (`/workspace`, read-only). Relative links must name a file or
// directory inside the checkout; http(s) links are checked with HEAD (GET
// when HEAD is not allowed), each URL once, on the destinations the
// operator granted. A link the host refused to reach is reported as such,
// not as broken.

import { Capabilities, Denied, FsError, HttpError, InvalidInput, fs, http, log, progress, s, tool } from 'airlock-sdk';

const ROOT = '/workspace';
const SKIP_DIRS = new Set(['.git', 'node_modules', 'target', '.venv']);
const INLINE = /!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+["'(][^)]*)?\)/g;
const REFERENCE = /^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$/;

const Link = s.object({
  file: s.string(),
  line: s.integer(),
  target: s.string(),
  status: s.enum(['ok', 'broken', 'refused', 'skipped']),
  detail: s.string(),
});

const input = s.object({
  path: s.optional(s.string({ description: 'a Markdown file or a directory under /workspace' }), ROOT),
  remote: s.optional(s.boolean({ description: 'check http(s) links too' }), true),
  max_files: s.optional(s.integer({ minimum: 1, maximum: 10000 }), 1000),
});

const output = s.object({
  files: s.integer(),
  checked: s.integer(),
  broken: s.array(Link),
  refused: s.array(Link),
});

type Found = { file: string; line: number; target: string };
type Checked = Found & { status: 'ok' | 'broken' | 'refused' | 'skipped'; detail: string };

export const { describe, invoke } = tool({
  name: 'link-check',
  version: '0.1.0',
  description:
    'Finds broken links in the Markdown files under /workspace: relative links to missing files, and http(s) links that answer an error (checked with HEAD on the destinations granted).',
  input,
  output,
  capabilities: new Capabilities()
    .mount(ROOT, 'read-only', 'the Markdown files to check')
    .host('https://*:1-65535', 'the links to check', ['HEAD', 'GET'])
    .host('http://*:1-65535', 'the links to check', ['HEAD', 'GET']),
  run({ path, remote, max_files }) {
    const start = normalise(path.startsWith('/') ? path : `${ROOT}/${path}`);
    if (start === null) throw new InvalidInput(`${path} is not under ${ROOT}`);
    const files = markdownFiles(start, max_files);
    const remoteSeen = new Map<string, Pick<Checked, 'status' | 'detail'>>();
    const results: Checked[] = [];
    files.forEach((file, index) => {
      progress.report(index, files.length, file);
      for (const found of links(file)) {
        results.push({ ...found, ...check(found, remote, remoteSeen) });
      }
    });
    progress.report(files.length, files.length);
    log.info('checked', { files: files.length, links: results.length });
    return {
      files: files.length,
      checked: results.filter((link) => link.status !== 'skipped').length,
      broken: results.filter((link) => link.status === 'broken'),
      refused: results.filter((link) => link.status === 'refused'),
    };
  },
});

/** The Markdown files at `start` (a file, or a directory walked
 * depth-first in name order), at most `max`. */
function markdownFiles(start: string, max: number): string[] {
  if (fs.stat(start).type === 'file') return [start];
  const found: string[] = [];
  const walk = (dir: string) => {
    const entries = fs.readDir(dir).sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const entry of entries) {
      if (found.length >= max) return;
      const path = `${dir}/${entry.name}`;
      if (entry.type === 'directory' && !SKIP_DIRS.has(entry.name)) walk(path);
      else if (entry.type === 'file' && /\.(md|markdown)$/i.test(entry.name)) found.push(path);
    }
  };
  walk(start);
  return found;
}

/** Every inline link and reference definition, outside fenced code. */
function links(file: string): Found[] {
  const found: Found[] = [];
  let fenced = false;
  fs.readText(file)
    .split('\n')
    .forEach((text, index) => {
      if (/^\s{0,3}(```|~~~)/.test(text)) fenced = !fenced;
      if (fenced) return;
      const line = index + 1;
      for (const match of text.replace(/`[^`]*`/g, '').matchAll(INLINE)) found.push({ file, line, target: match[1] });
      const reference = REFERENCE.exec(text);
      if (reference) found.push({ file, line, target: reference[1] });
    });
  return found;
}

function check(link: Found, remote: boolean, seen: Map<string, Pick<Checked, 'status' | 'detail'>>) {
  const target = link.target;
  if (/^https?:\/\//i.test(target)) {
    if (!remote) return { status: 'skipped' as const, detail: 'remote links not checked' };
    const url = target.split('#')[0];
    let result = seen.get(url);
    if (!result) {
      result = checkRemote(url);
      seen.set(url, result);
    }
    return result;
  }
  if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('#')) {
    return { status: 'skipped' as const, detail: 'not a file or http(s) link' };
  }
  const relative = decodeURI(target.split('#')[0].split('?')[0]);
  const dir = link.file.slice(0, link.file.lastIndexOf('/'));
  const resolved = normalise(relative.startsWith('/') ? `${ROOT}${relative}` : `${dir}/${relative}`);
  if (resolved === null) return { status: 'broken' as const, detail: 'points outside the checkout' };
  try {
    return fs.exists(resolved)
      ? { status: 'ok' as const, detail: resolved }
      : { status: 'broken' as const, detail: `${resolved} does not exist` };
  } catch (error) {
    if (error instanceof FsError) return { status: 'broken' as const, detail: `${resolved}: ${error.code}` };
    throw error;
  }
}

function checkRemote(url: string): Pick<Checked, 'status' | 'detail'> {
  try {
    let response = http.head(url, { maxBytes: 64 << 10 });
    if (response.status === 405 || response.status === 501) response = http.get(url, { maxBytes: 1 << 20 });
    return response.status < 400
      ? { status: 'ok', detail: `${response.status}` }
      : { status: 'broken', detail: `${response.status}` };
  } catch (error) {
    if (error instanceof Denied) return { status: 'refused', detail: error.message };
    if (error instanceof HttpError) return { status: 'broken', detail: error.code };
    throw error;
  }
}

/** `path` with `.` and `..` resolved, or `null` when it leaves ROOT. */
function normalise(path: string): string | null {
  const parts: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (parts.length === 0) return null;
      parts.pop();
    } else parts.push(part);
  }
  const joined = `/${parts.join('/')}`;
  return joined === ROOT || joined.startsWith(`${ROOT}/`) ? joined : null;
}
