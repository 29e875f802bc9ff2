// Secrets as handles: the host attaches a secret's value to a request
// (`http.request(url, { bearer })`) where policy lets it go; the tool never
// holds the value unless it asked for `reveal` and was granted it.

import { get as wit, reveal } from 'airlock:tool/secrets@0.1.0';
import { Denied, InvalidInput } from './errors.js';

/** The secret's error variant as an exception. */
export function secretError(error) {
  const payload = error?.payload;
  if (payload?.tag === 'denied') return new Denied(payload.val);
  if (payload?.tag === 'invalid') return new InvalidInput(payload.val);
  return error;
}

/** A handle to the secret `name`, or `Denied` when it was not granted. */
export function get(name) {
  try {
    return new Secret(wit(name));
  } catch (error) {
    throw secretError(error);
  }
}

/** A granted secret. Holds no value. */
export class Secret {
  constructor(handle) {
    this.handle = handle;
  }

  /** The secret's name. */
  get name() {
    return this.handle.name();
  }

  /** The value itself: needs `reveal` requested and `secret.reveal` granted. */
  reveal() {
    try {
      return reveal(this.handle);
    } catch (error) {
      throw secretError(error);
    }
  }
}
