// CSV as RFC 4180 defines it, for the training reports: a field is quoted when it holds a comma, a double quote,
// CR or LF (quotes doubled inside), records end in CRLF. The parser is the exact inverse, so reports round-trip
// and a spreadsheet or pandas.read_csv reads them as written.
import { expected } from '../validate';

export type CsvField = string | number | null | undefined;

/** One field: numbers as JavaScript's shortest round-trip form, null/undefined as an empty field. */
export function csvField(value: CsvField): string {
  if (value === null || value === undefined) return '';
  const text = typeof value === 'number' ? String(value) : value;
  if (typeof text !== 'string')
    throw new TypeError(expected('a string, number, null or undefined', 'a CSV field', value));
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function formatCsv(rows: readonly (readonly CsvField[])[]): string {
  return rows.map((row) => row.map(csvField).join(',') + '\r\n').join('');
}

/**
 * Parses RFC 4180 text into rows of strings. Accepts LF as well as CRLF line ends and a missing final line end;
 * rejects a quote inside an unquoted field or text after a closing quote, which a writer following the RFC never
 * produces, rather than guessing.
 */
export function parseCsv(text: string): string[][] {
  if (typeof text !== 'string') throw new TypeError(expected('a string', 'CSV text', text));
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  // Whether the current record has begun: a last line of just "" is a record with one empty field.
  let inRecord = false;
  let line = 1;
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '"' && field === '') {
      // A quoted field runs to the next quote that is not doubled.
      let j = i + 1;
      for (;;) {
        if (j >= text.length) throw new SyntaxError(`CSV line ${line}: unterminated quoted field`);
        if (text[j] === '"') {
          if (text[j + 1] !== '"') break;
          field += '"';
          j += 2;
          continue;
        }
        if (text[j] === '\n') line++;
        field += text[j++];
      }
      i = j + 1;
      if (i < text.length && !',\r\n'.includes(text[i]))
        throw new SyntaxError(`CSV line ${line}: text after a closing quote`);
      inRecord = true;
      continue;
    }
    if (c === '"') throw new SyntaxError(`CSV line ${line}: a quote inside an unquoted field`);
    if (c === ',') {
      row.push(field);
      field = '';
      inRecord = true;
      i++;
    } else if (c === '\r' || c === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      inRecord = false;
      i += c === '\r' && text[i + 1] === '\n' ? 2 : 1;
      line++;
    } else {
      field += c;
      inRecord = true;
      i++;
    }
  }
  if (inRecord) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}
