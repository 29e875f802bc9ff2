// HTTP requests over `wasi:http`: every request goes through the host's
// egress checks (destination, method, resolved address), and a refusal
// throws `Denied` with the host's reason. Secrets are attached by the host
// (`bearer`, `secretHeaders`), never seen by the tool.

import { Fields, OutgoingBody, OutgoingRequest } from 'wasi:http/types@0.2.12';
import { handle } from 'wasi:http/outgoing-handler@0.2.12';
import { lastRefusal } from 'airlock:tool/network@0.1.0';
import { attachBearer, attachHeader } from 'airlock:tool/secrets@0.1.0';
import { Denied, InvalidInput, ToolError } from './errors.js';
import { secretError } from './secrets.js';

/** The most a response body may hold by default: 16 MiB. */
export const DEFAULT_MAX_BYTES = 16 << 20;
/** `output-stream.blocking-write-and-flush` takes at most 4 KiB at once. */
const WRITE_PIECE = 4096;
const METHODS = new Set(['get', 'head', 'post', 'put', 'delete', 'connect', 'options', 'trace', 'patch']);

/** A request that reached no answer: `code` is the `wasi:http` error
 * code (`DNS-error`, `connection-refused`, ...). */
export class HttpError extends ToolError {
  constructor(code, url) {
    super(`${url}: ${code}`);
    this.code = code;
  }
}

/** An answer. `headers` maps lowercase names to their (last) value. */
export class Response {
  constructor(status, headers, body) {
    this.status = status;
    this.headers = headers;
    this.body = body;
  }

  /** Whether the status is 2xx. */
  get ok() {
    return this.status >= 200 && this.status < 300;
  }

  /** The body as text (UTF-8). */
  text() {
    return new TextDecoder().decode(this.body);
  }

  /** The body parsed as JSON. */
  json() {
    return JSON.parse(this.text());
  }
}

/**
 * Sends one request and waits for the whole answer.
 *
 * `options`: `method` (default `GET`), `headers` (`{ name: value }`),
 * `body` (`string` or `Uint8Array`), `bearer` (a `Secret`: the host sets
 * `authorization: Bearer …` if policy lets the secret go there),
 * `secretHeaders` (`[{ name, secret, template }]`, `template` holding
 * `{secret}`), `maxBytes` (the most the body may hold, default 16 MiB).
 */
export function request(url, options = {}) {
  const target = parse(url);
  const outgoing = new OutgoingRequest(headerFields(options.headers));
  const method = String(options.method ?? 'GET').toLowerCase();
  outgoing.setMethod(METHODS.has(method) ? { tag: method } : { tag: 'other', val: String(options.method) });
  outgoing.setScheme(target.protocol === 'https:' ? { tag: 'HTTPS' } : { tag: 'HTTP' });
  outgoing.setAuthority(target.host);
  outgoing.setPathWithQuery(`${target.pathname}${target.search}`);
  try {
    if (options.bearer) attachBearer(outgoing, options.bearer.handle);
    for (const { name, secret, template } of options.secretHeaders ?? []) {
      attachHeader(outgoing, secret.handle, name, template ?? '{secret}');
    }
  } catch (error) {
    throw secretError(error);
  }
  const body = outgoing.body();
  writeBody(body, options.body);
  OutgoingBody.finish(body, undefined);

  let pending;
  try {
    pending = handle(outgoing, undefined);
  } catch (error) {
    throw refused(error?.payload, url);
  }
  pending.subscribe().block();
  const answer = pending.get();
  // option<result<result<incoming-response, error-code>>>: here always some.
  if (answer?.tag !== 'ok') throw new HttpError('no answer', url);
  if (answer.val.tag !== 'ok') throw refused(answer.val.val, url);
  const incoming = answer.val.val;
  const headers = {};
  for (const [name, value] of incoming.headers().entries()) {
    headers[name.toLowerCase()] = new TextDecoder().decode(value);
  }
  return new Response(incoming.status(), headers, readBody(incoming, options.maxBytes ?? DEFAULT_MAX_BYTES, url));
}

/** `request(url, { ...options, method: 'GET' })`. */
export const get = (url, options) => request(url, { ...options, method: 'GET' });
/** `request(url, { ...options, method: 'HEAD' })`. */
export const head = (url, options) => request(url, { ...options, method: 'HEAD' });
/** `request(url, { ...options, method: 'POST' })`. */
export const post = (url, options) => request(url, { ...options, method: 'POST' });

function parse(url) {
  let target;
  try {
    target = new URL(url);
  } catch {
    throw new InvalidInput(`not a URL: ${url}`);
  }
  if (target.protocol !== 'http:' && target.protocol !== 'https:') {
    throw new InvalidInput(`only http and https URLs: ${url}`);
  }
  return target;
}

function headerFields(headers) {
  const fields = new Fields();
  for (const [name, value] of Object.entries(headers ?? {})) {
    try {
      fields.append(name, new TextEncoder().encode(String(value)));
    } catch (error) {
      throw new InvalidInput(`header ${name}: ${error?.payload?.tag ?? error}`);
    }
  }
  return fields;
}

function writeBody(body, data) {
  if (data === undefined || data === null) return;
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  const stream = body.write();
  for (let at = 0; at < bytes.length; at += WRITE_PIECE) {
    stream.blockingWriteAndFlush(bytes.subarray(at, at + WRITE_PIECE));
  }
  stream[Symbol.dispose]();
}

function readBody(incoming, maxBytes, url) {
  const body = incoming.consume();
  const stream = body.stream();
  const pieces = [];
  let total = 0;
  for (;;) {
    let piece;
    try {
      piece = stream.blockingRead(65536n);
    } catch (error) {
      if (error?.payload?.tag === 'closed') break;
      throw new HttpError(`body: ${error?.payload?.tag ?? error}`, url);
    }
    total += piece.length;
    if (total > maxBytes) throw new HttpError(`body over ${maxBytes} bytes`, url);
    pieces.push(piece);
  }
  stream[Symbol.dispose]();
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const piece of pieces) {
    bytes.set(piece, at);
    at += piece.length;
  }
  return bytes;
}

/** The error for a request that got no answer: `Denied` with the host's
 * reason when its egress rules refused it (a destination not granted, or
 * a name that resolved to an address no grant names). */
function refused(code, url) {
  if (code?.tag === 'HTTP-request-denied' || code?.tag === 'destination-IP-prohibited') {
    return new Denied(`network request refused: ${lastRefusal() ?? 'denied by the host'}`);
  }
  return new HttpError(code?.tag ?? String(code), url);
}
