// JSON with the non-finite number literals Triton reads and writes. Triton parses requests with rapidjson's
// kParseNanAndInfFlag and writes responses with kWriteNanAndInfFlag (triton-inference-server/common,
// include/triton/common/triton_json.h: TritonJson::Value::Parse and Write), so its clients send them: perf_analyzer's
// random JSON data, tritonclient.http (python-rapidjson) and Python's json.dumps write `NaN`, `Infinity` and
// `-Infinity` for float tensors that hold them. Read here: those, and what rapidjson also takes (`-NaN`, `Inf`,
// `-Inf`), as unquoted values anywhere a number may stand; a NaN inside a string stays a string. Written: `NaN`,
// `Infinity`, `-Infinity`, as rapidjson's writer does, where JSON.stringify would write null.
//
// The ordinary path is untouched: JSON.parse and JSON.stringify first; the parser below runs only on a text that
// JSON.parse refused, and its error names the position, which V8's messages do not always do.

/** JSON.parse, then, only where it fails, a parse that also takes the non-finite literals. A text that is not JSON
 *  either way throws a SyntaxError naming the position of the first character that does not fit. */
export function parseJsonAllowingNonFinite(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return new TolerantParser(text).parse();
  }
}

/** JSON.stringify, except that NaN and the infinities are written as the literals rather than as null. */
export function stringifyJsonAllowingNonFinite(value: unknown): string {
  const text = JSON.stringify(value);
  // JSON.stringify writes every non-finite number as null, so a text without null has lost none; with one (a real
  // null, or the word inside a string) the value is written again, which is exact either way.
  return text.includes('null') ? (writeValue(value) ?? 'null') : text;
}

function nonFiniteLiteral(value: number): string {
  return Number.isNaN(value) ? 'NaN' : value > 0 ? 'Infinity' : '-Infinity';
}

/** JSON.stringify's output for plain data, with the literals for non-finite numbers; undefined where
 *  JSON.stringify leaves a value out. */
function writeValue(value: unknown): string | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? JSON.stringify(value) : nonFiniteLiteral(value);
  if (typeof value !== 'object' || value === null || typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map((item) => writeValue(item) ?? 'null').join(',')}]`;
  const members: string[] = [];
  for (const [key, item] of Object.entries(value)) {
    const written = writeValue(item);
    if (written !== undefined) members.push(`${JSON.stringify(key)}:${written}`);
  }
  return `{${members.join(',')}}`;
}

// RFC 8259's number; after it, the caller checks that a delimiter follows (so `01` and `1.5.3` fail there).
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
// rapidjson's non-finite forms: an optional minus, then NaN, Inf or Infinity.
const NON_FINITE = /(-?)(NaN|Infinity|Inf)/y;
const LITERALS: [string, unknown][] = [
  ['true', true],
  ['false', false],
  ['null', null],
];

interface Open {
  container: unknown[] | Record<string, unknown>;
  /** The member being read, for an object. */
  key?: string;
}

/** A JSON parser with an explicit stack, so that deep nesting cannot overflow the call stack. */
class TolerantParser {
  private pos = 0;

  constructor(private readonly text: string) {}

  parse(): unknown {
    const open: Open[] = [];
    for (;;) {
      let value = this.beginValue(open);
      if (value === OPENED) continue;
      // Place the value, then close every container that ends after it.
      for (;;) {
        const top = open[open.length - 1];
        if (top === undefined) {
          this.skipSpace();
          if (this.pos < this.text.length) this.fail('unexpected text after the JSON value');
          return value;
        }
        if (Array.isArray(top.container)) top.container.push(value);
        // defineProperty, so that a member named __proto__ is a member, as JSON.parse makes it.
        else
          Object.defineProperty(top.container, top.key as string, {
            value,
            writable: true,
            enumerable: true,
            configurable: true,
          });
        this.skipSpace();
        const close = Array.isArray(top.container) ? ']' : '}';
        const next = this.text[this.pos];
        if (next === ',') {
          this.pos++;
          if (!Array.isArray(top.container)) top.key = this.key();
          break;
        }
        if (next !== close) this.fail(`expected ',' or '${close}'`);
        this.pos++;
        value = open.pop()!.container;
      }
    }
  }

  /** A scalar value read whole, or OPENED when an array or object was opened (pushed on `open`). */
  private beginValue(open: Open[]): unknown {
    this.skipSpace();
    const c = this.text[this.pos];
    if (c === '[' || c === '{') {
      this.pos++;
      this.skipSpace();
      const close = c === '[' ? ']' : '}';
      if (this.text[this.pos] === close) {
        this.pos++;
        return c === '[' ? [] : {};
      }
      open.push(c === '[' ? { container: [] } : { container: {}, key: this.key() });
      return OPENED;
    }
    if (c === '"') return this.string();
    return this.scalar();
  }

  private key(): string {
    this.skipSpace();
    if (this.text[this.pos] !== '"') this.fail('expected a member name in double quotes');
    const key = this.string();
    this.skipSpace();
    if (this.text[this.pos] !== ':') this.fail("expected ':' after the member name");
    this.pos++;
    return key;
  }

  private string(): string {
    const start = this.pos;
    let i = start + 1;
    while (i < this.text.length) {
      const c = this.text.charCodeAt(i);
      if (c === 0x22) break;
      i += c === 0x5c ? 2 : 1;
    }
    if (i >= this.text.length) this.fail('unterminated string');
    try {
      // JSON.parse of the string alone: its escapes and control characters judged exactly as everywhere else.
      const value = JSON.parse(this.text.slice(start, i + 1)) as string;
      this.pos = i + 1;
      return value;
    } catch {
      return this.fail('invalid string (a bad escape or an unescaped control character)');
    }
  }

  private scalar(): unknown {
    if (this.pos >= this.text.length) this.fail('unexpected end of the JSON');
    // Numbers first: tensor data is nearly all of them.
    NUMBER.lastIndex = this.pos;
    const number = NUMBER.exec(this.text);
    if (number) {
      this.pos = NUMBER.lastIndex;
      return Number(number[0]);
    }
    NON_FINITE.lastIndex = this.pos;
    const nonFinite = NON_FINITE.exec(this.text);
    if (nonFinite) {
      this.pos = NON_FINITE.lastIndex;
      return nonFinite[2] === 'NaN' ? NaN : nonFinite[1] ? -Infinity : Infinity;
    }
    for (const [word, value] of LITERALS) {
      if (this.text.startsWith(word, this.pos)) {
        this.pos += word.length;
        return value;
      }
    }
    return this.fail('expected a value');
  }

  private skipSpace(): void {
    while (this.pos < this.text.length) {
      const c = this.text[this.pos];
      if (c !== ' ' && c !== '\n' && c !== '\r' && c !== '\t') return;
      this.pos++;
    }
  }

  private fail(what: string): never {
    const found = this.pos < this.text.length ? `'${this.text.slice(this.pos, this.pos + 12)}'` : 'the end of the text';
    throw new SyntaxError(`${what} at position ${this.pos}, found ${found}`);
  }
}

const OPENED = Symbol('opened');
