/**
 * FHIR search value escaping: `\,` `\|` `\$` `\\` stand for the literal characters; unescaped `,` separates ORed
 * values, `|` separates token/quantity parts and `$` composite components.
 */

/** Splits on every unescaped `separator`, keeping escapes in the parts (unescape each part when it is final). */
export function splitUnescaped(text: string, separator: string): string[] {
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\\' && i + 1 < text.length) {
      current += c + text[++i];
    } else if (c === separator) {
      parts.push(current);
      current = '';
    } else {
      current += c;
    }
  }
  parts.push(current);
  return parts;
}

/** Removes search escapes: `\,` → `,`, `\\` → `\`. */
export function unescapeValue(text: string): string {
  return text.replace(/\\([\\,|$])/g, '$1');
}

/** Escapes `%`, `_` and `\` for a SQL LIKE pattern (with the default `\` escape). */
export function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => '\\' + c);
}
