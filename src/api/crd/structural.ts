// Turns a zod schema into a *structural* OpenAPI v3 schema, the only kind a CRD may carry:
// a type on every node, no $ref or combinators, no additionalProperties:false. Anything the
// API server would refuse fails here, at generation time, naming the offending path.
import { z } from 'zod';

export type JsonSchema = { [key: string]: unknown };

/** Keywords a structural schema cannot hold (or that zod would only emit for shapes we avoid). */
const FORBIDDEN = ['$ref', '$defs', 'definitions', 'anyOf', 'oneOf', 'allOf', 'not', 'propertyNames', 'patternProperties', 'nullable'];

export function toStructuralSchema(schema: z.ZodType, where: string): JsonSchema {
  const raw = z.toJSONSchema(schema, { target: 'openapi-3.0', io: 'input', unrepresentable: 'throw' }) as JsonSchema;
  delete raw.$schema;
  return normalize(raw, where);
}

function normalize(node: JsonSchema, path: string): JsonSchema {
  const out: JsonSchema = { ...node };
  for (const key of FORBIDDEN) {
    if (key in out) throw new Error(`${path}: "${key}" is not allowed in a structural CRD schema; reshape the zod schema`);
  }
  if ('const' in out) {
    out.enum = [out.const];
    delete out.const;
  }
  if (out.additionalProperties === false) delete out.additionalProperties;
  // zod spells the RFC 3339 rule as a long regex too; the server's date-time format already checks it.
  if (out.format === 'date-time') delete out.pattern;
  if (out.type === 'integer') {
    if (out.maximum === Number.MAX_SAFE_INTEGER) delete out.maximum;
    if (out.minimum === Number.MIN_SAFE_INTEGER) delete out.minimum;
    out.format ??= 'int64';
  }
  if (typeof out.type !== 'string') throw new Error(`${path}: every node of a structural schema needs a type`);
  if (out.properties !== undefined) {
    const props: JsonSchema = {};
    for (const [name, child] of Object.entries(out.properties as Record<string, JsonSchema>)) {
      if (typeof child.description !== 'string') throw new Error(`${path}.${name}: add .describe() so kubectl explain can show it`);
      props[name] = normalize(child, `${path}.${name}`);
    }
    out.properties = props;
  }
  if (out.items !== undefined) out.items = normalize(out.items as JsonSchema, `${path}[]`);
  if (typeof out.additionalProperties === 'object' && out.additionalProperties !== null) {
    out.additionalProperties = normalize(out.additionalProperties as JsonSchema, `${path}{}`);
  }
  return readableOrder(out);
}

/** description and type first, so the YAML reads like hand-written CRDs. */
function readableOrder(node: JsonSchema): JsonSchema {
  const { description, type, ...rest } = node;
  return { ...(description === undefined ? {} : { description }), type, ...rest };
}
