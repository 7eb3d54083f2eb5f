// One rule, two enforcers: every CEL rule the CRD carries is attached to the zod schema together
// with the equivalent JavaScript check, so the API server and the in-process parser cannot drift.
import { z } from 'zod';

/** One entry of a CRD schema's `x-kubernetes-validations`. */
export interface CelRule {
  rule: string;
  message: string;
  /** JSONPath (`.id`) of the field the error names, for rules that sit on an enclosing object. */
  fieldPath?: string;
}

export const CEL_KEY = 'x-kubernetes-validations';

/** A check returns true when the value is valid, otherwise false or the reason it is not. */
export type Check<T> = (value: T) => boolean | string;

export function celRulesOf(schema: z.ZodType): CelRule[] {
  const meta = z.globalRegistry.get(schema) as Record<string, unknown> | undefined;
  return (meta?.[CEL_KEY] as CelRule[] | undefined) ?? [];
}

/** CEL `matches` over a raw string literal, so the pattern reaches RE2 byte for byte. */
export function celMatches(pattern: string, subject = 'self'): string {
  if (pattern.includes("'")) throw new Error(`pattern ${pattern} cannot be a CEL raw string: it contains a quote`);
  return `${subject}.matches(r'${pattern}')`;
}

/** Attaches `rule` to the CRD and `check` to zod; a failed check reports at the rule's fieldPath. */
export function withCel<T extends z.ZodType>(schema: T, rule: CelRule, check: Check<z.output<T>>): T {
  const path = rule.fieldPath ? rule.fieldPath.slice(1).split('.') : [];
  const rules = [...celRulesOf(schema), rule];
  const refined = schema.superRefine((value, ctx) => {
    const verdict = check(value as z.output<T>);
    if (verdict === true) return;
    // A fresh path per issue: zod prefixes the array in place as the issue bubbles up.
    ctx.addIssue({ code: 'custom', message: typeof verdict === 'string' ? verdict : rule.message, path: [...path], input: value });
  });
  return refined.meta({ [CEL_KEY]: rules }) as T;
}

/**
 * A transition rule (`self == oldSelf`). zod sees one object at a time, so the matching check is
 * `immutableFieldViolations` over the paths listed in IMMUTABLE_FIELDS; a unit test keeps the two equal.
 */
export function immutable<T extends z.ZodType>(schema: T, field: string): T {
  const rule: CelRule = {
    rule: 'self == oldSelf',
    message: `${field} is immutable: delete the object and create it again to change it`,
  };
  return schema.meta({ [CEL_KEY]: [...celRulesOf(schema), rule] }) as T;
}
