// What a parameter's schema accepts, in words, for validation errors: "an integer ≥ 1 or 'auto'"
// says what to send where TypeBox's own message says "Expected union value".
import { type TSchema } from '@sinclair/typebox';

interface JsonSchema {
  type?: string;
  const?: unknown;
  anyOf?: JsonSchema[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  maxLength?: number;
}

/** "≥ 1", "from 0 to 10", "> 0 and ≤ 1", or '' for an unbounded number. */
function range(s: JsonSchema): string {
  const low = s.minimum !== undefined ? `≥ ${s.minimum}` : s.exclusiveMinimum !== undefined ? `> ${s.exclusiveMinimum}` : undefined;
  const high = s.maximum !== undefined ? `≤ ${s.maximum}` : s.exclusiveMaximum !== undefined ? `< ${s.exclusiveMaximum}` : undefined;
  if (s.minimum !== undefined && s.maximum !== undefined) return ` from ${s.minimum} to ${s.maximum}`;
  return [low, high].filter(Boolean).length ? ` ${[low, high].filter(Boolean).join(' and ')}` : '';
}

/** A literal as a client types it: strings quoted, as in the API's other messages. */
const literal = (v: unknown) => (typeof v === 'string' ? `'${v}'` : String(v));

export function expectation(schema: TSchema | JsonSchema): string {
  const s = schema as JsonSchema;
  if (s.anyOf) {
    const literals = s.anyOf.filter((m) => m.const !== undefined);
    if (literals.length === s.anyOf.length) return `one of ${literals.map((m) => literal(m.const)).join(', ')}`;
    return s.anyOf.map(expectation).join(' or ');
  }
  if (s.const !== undefined) return literal(s.const);
  switch (s.type) {
    case 'integer':
      return `an integer${range(s)}`;
    case 'number':
      return `a number${range(s)}`;
    case 'boolean':
      return 'true or false';
    case 'string': {
      const { minLength: min, maxLength: max } = s;
      return min !== undefined && max !== undefined ? `a string of ${min}–${max} characters` : 'a string';
    }
    default:
      return s.type ? `a value of type ${s.type}` : 'a valid value';
  }
}
