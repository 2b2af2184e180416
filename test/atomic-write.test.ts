// lib/atomic-write.ts: the target is replaced whole or left as it was, and no temporary file stays behind.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { writeFileAtomic, writeFileAtomicSync } from '../lib/atomic-write';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vitorch-atomic-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test('writes a new file and replaces an old one, sync and async, leaving only the target', async () => {
  const file = path.join(dir, 'curves.csv');
  writeFileAtomicSync(file, 'one\n');
  expect(fs.readFileSync(file, 'utf8')).toBe('one\n');
  await writeFileAtomic(file, Buffer.from('two\n'));
  expect(fs.readFileSync(file, 'utf8')).toBe('two\n');
  expect(fs.readdirSync(dir)).toEqual(['curves.csv']);
});

test('a failed rename (the target is a folder) leaves the target as it was and removes the temporary file', async () => {
  const sub = fs.mkdtempSync(path.join(dir, 'sub-'));
  const target = path.join(sub, 'report.csv');
  fs.mkdirSync(target);
  fs.writeFileSync(path.join(target, 'kept'), 'x');
  expect(() => writeFileAtomicSync(target, 'text')).toThrow(expect.objectContaining({ code: 'EISDIR' }));
  await expect(writeFileAtomic(target, 'text')).rejects.toMatchObject({ code: 'EISDIR' });
  expect(fs.readdirSync(sub)).toEqual(['report.csv']);
  expect(fs.readdirSync(target)).toEqual(['kept']);
});

test("a missing folder is fs's own ENOENT", () => {
  expect(() => writeFileAtomicSync(path.join(dir, 'no-such-folder', 'x.txt'), 'text')).toThrow(
    expect.objectContaining({ code: 'ENOENT' }),
  );
});
