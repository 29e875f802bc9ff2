// JSON Schemas for a tool's input and output, built from small pieces.
// The host compiles the input schema once per tool and checks every input
// against it before the tool runs; the SDK then fills in defaults.

const OPTIONAL = Symbol('airlock.optional');

function withOptions(schema, options) {
  return { ...schema, ...(options ?? {}) };
}

/** Schema builders. Any plain JSON Schema object may stand in for one. */
export const s = {
  string: (options) => withOptions({ type: 'string' }, options),
  integer: (options) => withOptions({ type: 'integer' }, options),
  number: (options) => withOptions({ type: 'number' }, options),
  boolean: (options) => withOptions({ type: 'boolean' }, options),
  array: (items, options) => withOptions({ type: 'array', items }, options),
  /** One of these JSON values. */
  enum: (values, options) => withOptions({ enum: [...values] }, options),
  /** The value or `null`. */
  nullable: (schema) => ({ anyOf: [schema, { type: 'null' }] }),
  /** Any JSON value. */
  any: (options) => withOptions({}, options),
  /** A field that may be absent; `fallback` (if given) fills it in. */
  optional: (schema, fallback) => ({ [OPTIONAL]: true, schema, fallback }),
  /** An object with exactly these fields; a field not wrapped in
   * `s.optional` is required. */
  object(fields, options) {
    const properties = {};
    const required = [];
    for (const [name, field] of Object.entries(fields)) {
      if (field && field[OPTIONAL]) {
        properties[name] =
          field.fallback === undefined ? field.schema : { ...field.schema, default: field.fallback };
      } else {
        properties[name] = field;
        required.push(name);
      }
    }
    return withOptions({ type: 'object', properties, required, additionalProperties: false }, options);
  },
  /** A map from string keys to values of one schema. */
  record: (values, options) => withOptions({ type: 'object', additionalProperties: values }, options),
};

/** `value` with the `default`s of `schema` filled in where absent
 * (objects, recursively); everything else unchanged. */
export function withDefaults(schema, value) {
  if (!schema || typeof schema !== 'object' || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    return schema.items ? value.map((item) => withDefaults(schema.items, item)) : value;
  }
  const properties = schema.properties ?? {};
  const filled = { ...value };
  for (const [name, property] of Object.entries(properties)) {
    if (filled[name] === undefined && property && property.default !== undefined) {
      filled[name] = JSON.parse(JSON.stringify(property.default));
    } else if (filled[name] !== undefined) {
      filled[name] = withDefaults(property, filled[name]);
    }
  }
  return filled;
}
