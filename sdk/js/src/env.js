// Environment variables: only those granted are there; the host's own
// environment never is.

import { getEnvironment } from 'wasi:cli/environment@0.2.12';

/** The variable's value, or `undefined`. */
export function get(name) {
  for (const [key, value] of getEnvironment()) {
    if (key === name) return value;
  }
  return undefined;
}

/** Every variable the call was granted, as an object. */
export function all() {
  return Object.fromEntries(getEnvironment());
}
