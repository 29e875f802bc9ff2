// Type definitions for airlock-sdk: write airlock tools in TypeScript.

/** A JSON Schema whose values have type `T`. */
export interface Schema<T> {
  readonly __value?: T;
  readonly [keyword: string]: unknown;
}

/** A field of `s.object` that may be absent. */
export interface Optional<T> {
  readonly __optional: T;
}

/** A field of `s.object` that may be absent in the input, and is then
 * filled in with its fallback: always there for `run`. */
export interface Defaulted<T> {
  readonly __defaulted: T;
}

/** The type of the values a schema accepts. */
export type Infer<S> = S extends Defaulted<infer T> ? T : S extends Schema<infer T> ? T : unknown;

type Field = Schema<unknown> | Optional<unknown> | Defaulted<unknown>;
type Required<F> = { [K in keyof F as F[K] extends Optional<unknown> ? never : K]: Infer<F[K]> };
type Maybe<F> = { [K in keyof F as F[K] extends Optional<unknown> ? K : never]?: F[K] extends Optional<infer T> ? T : never };
type Flatten<T> = { [K in keyof T]: T[K] };
type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Options = Record<string, unknown>;

/** Schema builders. The host checks every input against the input schema
 * before the tool runs; `s.optional(schema, fallback)` fills `fallback` in. */
export declare const s: {
  string(options?: Options): Schema<string>;
  integer(options?: Options): Schema<number>;
  number(options?: Options): Schema<number>;
  boolean(options?: Options): Schema<boolean>;
  array<T>(items: Schema<T>, options?: Options): Schema<T[]>;
  enum<const V extends readonly Json[]>(values: V, options?: Options): Schema<V[number]>;
  nullable<T>(schema: Schema<T>): Schema<T | null>;
  any(options?: Options): Schema<Json>;
  optional<T>(schema: Schema<T>): Optional<T>;
  optional<T>(schema: Schema<T>, fallback: T): Defaulted<T>;
  object<F extends Record<string, Field>>(fields: F, options?: Options): Schema<Flatten<Required<F> & Maybe<F>>>;
  record<T>(values: Schema<T>, options?: Options): Schema<Record<string, T>>;
};

/** A call that did not produce a result (`failed`). */
export declare class ToolError extends Error {}
/** The input is not valid for this tool (`invalid-input`). */
export declare class InvalidInput extends ToolError {}
/** The tool tried to use something it was not granted (`denied`). */
export declare class Denied extends ToolError {}

/** Everything a tool asks for: a request, never a grant. */
export declare class Capabilities {
  mount(guestPath: string, access: 'read-only' | 'read-write', reason: string): this;
  host(destination: string, reason: string, methods?: string[]): this;
  secret(name: string, reason: string, reveal?: boolean): this;
  env(name: string, reason: string): this;
}

/** What `tool` needs. */
export interface ToolDefinition<I, O> {
  /** 1-64 of `[a-z0-9_-]`. */
  name: string;
  version: string;
  /** One paragraph for humans and agents. */
  description: string;
  input: Schema<I>;
  output: Schema<O>;
  /** Default: none. */
  capabilities?: Capabilities;
  /** Runs synchronously; throw `InvalidInput`, `Denied` or `ToolError` to fail. */
  run(input: I): O;
}

/** Declares the component's tool:
 * `export const { describe, invoke } = tool({ ... })`. */
export declare function tool<I, O>(
  definition: ToolDefinition<I, O>,
): { describe(): unknown; invoke(input: string): string };

/** A filesystem call failed; `code` is the WASI error code, `denied`
 * whether the sandbox refused it. */
export declare class FsError extends ToolError {
  readonly code: string;
  readonly path: string;
  readonly denied: boolean;
}

/** A request that got no answer; `code` is the `wasi:http` error code. */
export declare class HttpError extends ToolError {
  readonly code: string;
}

/** A granted secret: a handle, no value. */
export declare class Secret {
  readonly name: string;
  /** Needs `reveal` requested and `secret.reveal` granted. */
  reveal(): string;
}

/** An HTTP answer. */
export declare class Response {
  readonly status: number;
  readonly ok: boolean;
  /** Lowercase names to their (last) value. */
  readonly headers: Record<string, string>;
  readonly body: Uint8Array;
  text(): string;
  json(): unknown;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /** The host sets `authorization: Bearer …` where policy lets it go. */
  bearer?: Secret;
  /** `template` holds `{secret}`. */
  secretHeaders?: { name: string; secret: Secret; template?: string }[];
  /** Default 16 MiB. */
  maxBytes?: number;
}

export declare namespace http {
  function request(url: string, options?: RequestOptions): Response;
  function get(url: string, options?: RequestOptions): Response;
  function head(url: string, options?: RequestOptions): Response;
  function post(url: string, options?: RequestOptions): Response;
}

export type EntryType = 'file' | 'directory' | 'symlink' | 'other';

export declare namespace fs {
  function readFile(path: string): Uint8Array;
  function readText(path: string): string;
  function writeFile(path: string, data: string | Uint8Array): void;
  function readDir(path: string): { name: string; type: EntryType }[];
  function stat(path: string): { type: EntryType; size: number };
  function exists(path: string): boolean;
}

export declare namespace env {
  function get(name: string): string | undefined;
  function all(): Record<string, string>;
}

export declare namespace secrets {
  function get(name: string): Secret;
}

type Fields = Record<string, string | number | boolean>;

export declare namespace log {
  function debug(message: string, fields?: Fields): void;
  function info(message: string, fields?: Fields): void;
  function warn(message: string, fields?: Fields): void;
  function error(message: string, fields?: Fields): void;
}

export declare namespace progress {
  function report(done: number, total?: number, message?: string): void;
}

export declare namespace content {
  function text(text: string): void;
  function image(mimeType: string, data: Uint8Array): void;
  function audio(mimeType: string, data: Uint8Array): void;
  function resourceLink(uri: string, name: string, options?: { mimeType?: string; description?: string }): void;
  function embeddedText(uri: string, text: string, mimeType?: string): void;
  function embeddedBlob(uri: string, data: Uint8Array, mimeType?: string): void;
}
