// Write airlock tools in JavaScript or TypeScript. See ../README.md.

export { Capabilities, tool } from './tool.js';
export { Denied, InvalidInput, ToolError } from './errors.js';
export { s } from './schema.js';
export { FsError } from './fs.js';
export { HttpError, Response } from './http.js';
export { Secret } from './secrets.js';
export * as content from './content.js';
export * as env from './env.js';
export * as fs from './fs.js';
export * as http from './http.js';
export * as log from './log.js';
export * as progress from './progress.js';
export * as secrets from './secrets.js';
