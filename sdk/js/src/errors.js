// How a call fails. `invoke` turns these into the world's `tool-error`.

/** A call that did not produce a result (`failed`). */
export class ToolError extends Error {
  constructor(message) {
    super(message);
    this.name = new.target.name;
  }
}

/** The input is not valid for this tool (`invalid-input`). */
export class InvalidInput extends ToolError {}

/** The tool tried to use something it was not granted (`denied`). */
export class Denied extends ToolError {}

/** The `tool-error` variant for anything a tool throws. */
export function toToolError(error) {
  if (error instanceof InvalidInput) return { tag: 'invalid-input', val: error.message };
  // An `FsError` the sandbox refused says so with `denied`.
  if (error instanceof Denied || (error instanceof ToolError && error.denied === true)) {
    return { tag: 'denied', val: error.message };
  }
  if (error instanceof ToolError) return { tag: 'failed', val: error.message };
  if (error instanceof Error) return { tag: 'failed', val: `${error.name}: ${error.message}` };
  return { tag: 'failed', val: `thrown: ${String(error)}` };
}
