// Declaring a tool, and the component's exports (`describe`, `invoke`).

import { InvalidInput, toToolError } from './errors.js';
import { withDefaults } from './schema.js';

const ACCESS = new Set(['read-only', 'read-write']);
const NAME = /^[a-z0-9_-]{1,64}$/;

/** Everything a tool asks for; nothing outside it can be granted, and
 * policy decides per call and caller what of it is. */
export class Capabilities {
  #mounts = [];
  #hosts = [];
  #secrets = [];
  #env = [];

  /** A directory at `guestPath`, `read-only` or `read-write`. */
  mount(guestPath, access, reason) {
    if (!ACCESS.has(access)) throw new TypeError(`access must be read-only or read-write, not ${JSON.stringify(access)}`);
    this.#mounts.push({ guestPath, access, reason });
    return this;
  }

  /** HTTP requests to `destination` (`https://api.example.com`) with
   * `methods` (empty: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS). */
  host(destination, reason, methods = []) {
    this.#hosts.push({ destination, methods: [...methods], reason });
    return this;
  }

  /** A secret the host attaches to requests for the tool; `reveal`: the
   * value itself (its own grant, rarely the right design). */
  secret(name, reason, reveal = false) {
    this.#secrets.push({ name, reason, reveal });
    return this;
  }

  /** An environment variable. */
  env(name, reason) {
    this.#env.push({ name, reason });
    return this;
  }

  /** The world's `capability-request`. */
  toRequest() {
    return { mounts: [...this.#mounts], hosts: [...this.#hosts], secrets: [...this.#secrets], env: [...this.#env] };
  }
}

/**
 * Declares the component's tool and returns its exports:
 *
 *     export const { describe, invoke } = tool({ name, version, description,
 *       input, output, capabilities, run });
 *
 * `run(input)` gets the input with defaults filled in and returns the
 * output (any JSON value); it runs synchronously. Throw `InvalidInput`,
 * `Denied` or `ToolError` to fail the call; any other exception fails it
 * with its name and message.
 */
export function tool({ name, version, description, input, output, capabilities, run }) {
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new TypeError(`tool name must be 1-64 of [a-z0-9_-], not ${JSON.stringify(name)}`);
  }
  if (typeof run !== 'function') throw new TypeError('tool needs `run(input)`');
  const requested = capabilities ?? new Capabilities();
  const info = {
    name,
    version: String(version ?? '0.0.0'),
    description: String(description ?? ''),
    inputSchema: JSON.stringify(input ?? {}),
    outputSchema: JSON.stringify(output ?? {}),
    capabilities: requested.toRequest(),
  };
  return {
    describe: () => info,
    invoke(text) {
      try {
        let value;
        try {
          value = JSON.parse(text);
        } catch (error) {
          throw new InvalidInput(`input is not JSON: ${error.message}`);
        }
        const result = run(withDefaults(input, value));
        if (result && typeof result.then === 'function') {
          throw new TypeError('run returned a Promise: a tool runs synchronously (the SDK\'s fs and http calls block)');
        }
        return JSON.stringify(result === undefined ? null : result);
      } catch (error) {
        throw toToolError(error);
      }
    },
  };
}
