// Files in the tool's mounts, over `wasi:filesystem`. Paths are absolute
// guest paths (`/workspace/src/main.rs`); a path no mount holds does not
// exist. The sandbox decides the rest: `..` out of a mount, a symlink out
// of it, a write to a read-only mount are refused (`FsError`, `denied`).

import { getDirectories } from 'wasi:filesystem/preopens@0.2.12';
import { ToolError } from './errors.js';

/** The most one read asks for. */
const READ_PIECE = 1n << 20n;

/** WASI error codes that mean "the sandbox said no". */
const DENIED_CODES = new Set(['access', 'not-permitted', 'read-only']);

/** A filesystem call failed. `code` is the WASI error code (`no-entry`,
 * `not-permitted`, ...); `denied` says whether the sandbox refused it (the
 * call then fails as `denied` if the tool lets it propagate). */
export class FsError extends ToolError {
  constructor(code, path) {
    super(`${path}: ${code}`);
    this.code = code;
    this.path = path;
    this.denied = DENIED_CODES.has(code);
  }
}

function wasiCode(error) {
  return typeof error?.payload === 'string' ? error.payload : String(error?.payload?.tag ?? error);
}

/** The mount holding `path`, and the path inside it. */
function locate(path) {
  if (typeof path !== 'string' || !path.startsWith('/')) {
    throw new FsError('invalid', `${path} (paths are absolute, under a mount)`);
  }
  let best;
  for (const [descriptor, root] of getDirectories()) {
    const prefix = root.endsWith('/') ? root : `${root}/`;
    if ((path === root || path.startsWith(prefix)) && (!best || root.length > best.root.length)) {
      best = { descriptor, root, inside: path === root ? '.' : path.slice(prefix.length) || '.' };
    }
  }
  if (!best) throw new FsError('no-entry', `${path} (no mount holds it)`);
  return best;
}

function open(path, pathFlags, openFlags, flags) {
  const { descriptor, inside } = locate(path);
  try {
    return inside === '.' && !openFlags.create ? descriptor : descriptor.openAt(pathFlags, inside, openFlags, flags);
  } catch (error) {
    throw new FsError(wasiCode(error), path);
  }
}

function attempt(path, operation) {
  try {
    return operation();
  } catch (error) {
    if (error instanceof FsError) throw error;
    throw new FsError(wasiCode(error), path);
  }
}

/** The file's bytes (`Uint8Array`). */
export function readFile(path) {
  const file = open(path, { symlinkFollow: true }, {}, { read: true });
  return attempt(path, () => {
    const pieces = [];
    let offset = 0n;
    for (;;) {
      const [bytes, end] = file.read(READ_PIECE, offset);
      if (bytes.length > 0) pieces.push(bytes);
      offset += BigInt(bytes.length);
      if (end || bytes.length === 0) break;
    }
    return concat(pieces);
  });
}

/** The file's text (UTF-8; invalid sequences become U+FFFD). */
export function readText(path) {
  return new TextDecoder().decode(readFile(path));
}

/** Writes `data` (`string` or `Uint8Array`), creating or replacing the file. */
export function writeFile(path, data) {
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  const file = open(path, { symlinkFollow: true }, { create: true, truncate: true }, { write: true });
  attempt(path, () => {
    let offset = 0n;
    while (offset < BigInt(bytes.length)) {
      offset += file.write(bytes.subarray(Number(offset)), offset);
    }
  });
}

/** The entries of a directory: `{ name, type }`, `type` one of `file`,
 * `directory`, `symlink`, `other`. */
export function readDir(path) {
  const dir = open(path, { symlinkFollow: true }, { directory: true }, { read: true });
  return attempt(path, () => {
    const entries = [];
    const stream = dir.readDirectory();
    for (let entry = stream.readDirectoryEntry(); entry; entry = stream.readDirectoryEntry()) {
      entries.push({ name: entry.name, type: kind(entry.type) });
    }
    return entries;
  });
}

/** `{ type, size }` of what `path` names (symlinks followed). */
export function stat(path) {
  const { descriptor, inside } = locate(path);
  return attempt(path, () => {
    const found = inside === '.' ? descriptor.stat() : descriptor.statAt({ symlinkFollow: true }, inside);
    return { type: kind(found.type), size: Number(found.size) };
  });
}

/** Whether `path` names something (a refusal is not "absent": it throws). */
export function exists(path) {
  try {
    stat(path);
    return true;
  } catch (error) {
    if (error instanceof FsError && error.code === 'no-entry') return false;
    throw error;
  }
}

function kind(type) {
  switch (type) {
    case 'regular-file':
      return 'file';
    case 'directory':
      return 'directory';
    case 'symbolic-link':
      return 'symlink';
    default:
      return 'other';
  }
}

function concat(pieces) {
  if (pieces.length === 1) return pieces[0];
  const total = pieces.reduce((sum, piece) => sum + piece.length, 0);
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const piece of pieces) {
    bytes.set(piece, at);
    at += piece.length;
  }
  return bytes;
}
