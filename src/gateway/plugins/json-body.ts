// JSON bodies: Fastify's own parser (prototype-poisoning checks, body limit while reading) after
// one more check, that no top-level member is sent twice. JSON.parse keeps the last of two
// equal keys, which would silently drop what the client meant (RFC 8259 §4: names SHOULD be
// unique; behaviour with duplicates is unpredictable across parsers).
import { type FastifyInstance } from 'fastify';
import { apiError } from '../errors.js';

export function registerJsonBody(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    const duplicate = duplicateTopLevelKey(text);
    if (duplicate !== undefined) {
      done(apiError('SALIENCY_VALIDATION', [`member '${duplicate}' is sent more than once; send each field once`]), undefined);
      return;
    }
    void parse(request, text, done); // callback style: it calls done itself
  });
}

/**
 * The first member name that occurs twice in the top-level object, if any. Skips from quote to
 * quote with indexOf (base64 payloads are long strings), so it costs a walk over the structure,
 * not over the bytes. Malformed text returns undefined: the parser then says what is wrong.
 */
export function duplicateTopLevelKey(text: string): string | undefined {
  const seen = new Set<string>();
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') depth--;
    else if (c === '"') {
      let end = text.indexOf('"', i + 1);
      while (end !== -1 && isEscaped(text, end)) end = text.indexOf('"', end + 1);
      if (end === -1) return undefined;
      if (depth === 1 && /^\s*:/.test(text.slice(end + 1, end + 17))) {
        let name: string;
        try {
          name = JSON.parse(text.slice(i, end + 1)) as string;
        } catch {
          return undefined;
        }
        if (seen.has(name)) return name;
        seen.add(name);
      }
      i = end;
    }
  }
  return undefined;
}

function isEscaped(text: string, quote: number): boolean {
  let backslashes = 0;
  for (let k = quote - 1; k >= 0 && text[k] === '\\'; k--) backslashes++;
  return backslashes % 2 === 1;
}
