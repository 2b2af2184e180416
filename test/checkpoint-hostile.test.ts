// Hostile and broken files: each gets a CheckpointError naming the file and what is wrong, in bounded time and
// memory; forbidden globals are refused before anything runs. A mutation fuzzer over real checkpoints of every
// format (fixed seed) proves no crash, no hang and no unbounded allocation.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CheckpointError, loadCheckpoint, LoadCheckpointOptions } from '../lib';
import { checkpointManifest as m, checkpointPath } from './checkpoint-fixtures';
import { mulberry32 } from './random';

// Each broken file's exact reason, the numbers in it from the generator's own reading of the file.
const { safetensorsHugeHeader, zipRecordBeyondEnd, unknownOpcode, globalEval, legacyTruncated } = m.broken;
const storage = legacyTruncated.storage;
const reasons: [string, string][] = [
  [
    safetensorsHugeHeader.file,
    `corrupt safetensors file (the header length field claims ${safetensorsHugeHeader.claimedHeaderLength} ` +
      `bytes (${(safetensorsHugeHeader.claimedHeaderLength / 2 ** 30).toFixed(1)} GB), but only ` +
      `${safetensorsHugeHeader.bytesAfterLength} bytes follow it)`,
  ],
  [
    zipRecordBeyondEnd.file,
    `corrupt zip archive (record '${zipRecordBeyondEnd.record}' has its local header at byte ` +
      `${zipRecordBeyondEnd.claimedOffset}, past the start of the central directory at byte ${zipRecordBeyondEnd.centralDirectoryOffset})`,
  ],
  [
    unknownOpcode.file,
    `corrupt pickle in record '${unknownOpcode.record}' at byte ${unknownOpcode.pickleOffset}: ` +
      `unknown pickle opcode 0x${unknownOpcode.opcode.toString(16)}`,
  ],
  [
    globalEval.file,
    `refusing to load global '${globalEval.global}': only the globals a state dict needs are allowed ` +
      '(collections.OrderedDict, torch._utils._rebuild_tensor_v2, torch._utils._rebuild_tensor, torch._utils._rebuild_parameter, ' +
      'torch._utils._rebuild_parameter_with_state and torch.{Float,Double,Half,BFloat16,Long,Int,Short,Char,Byte,Bool}Storage)',
  ],
  [
    legacyTruncated.file,
    `truncated file (storage '${storage.key}' of ${storage.elements} ${storage.dtype} elements needs ` +
      `${storage.elements} x ${storage.elementSize} bytes from byte ${storage.offset}, but the file has ${legacyTruncated.size} bytes)`,
  ],
];

test.each(reasons)('%s', (file, reason) => {
  const marker = file === globalEval.file ? globalEval.marker : undefined;
  if (marker) fs.rmSync(marker, { force: true });
  let error: unknown;
  try {
    loadCheckpoint(checkpointPath(file));
  } catch (caught) {
    error = caught;
  }
  expect(error).toBeInstanceOf(CheckpointError);
  expect((error as Error).message).toBe(`${checkpointPath(file)}: ${reason}`);
  // The refused global is not run: the marker file it would have touched does not exist.
  if (marker) expect(fs.existsSync(marker)).toBe(false);
});

function mutate(original: Buffer, next: () => number): Buffer {
  const bytes = Buffer.from(original);
  const pick = (n: number) => Math.floor(next() * n);
  switch (pick(6)) {
    case 0: // flip a few bytes
      for (let i = 0, n = 1 + pick(8); i < n; i++) bytes[pick(bytes.length)] ^= 1 + pick(255);
      return bytes;
    case 1: // extreme values, which tend to land in sizes and offsets
      for (let i = 0, n = 1 + pick(4); i < n; i++) bytes[pick(bytes.length)] = next() < 0.5 ? 0xff : 0x00;
      return bytes;
    case 2: // truncate
      return bytes.subarray(0, pick(bytes.length));
    case 3: {
      // delete a span
      const at = pick(bytes.length);
      return Buffer.concat([bytes.subarray(0, at), bytes.subarray(Math.min(bytes.length, at + 1 + pick(32)))]);
    }
    case 4: {
      // insert random bytes
      const at = pick(bytes.length);
      const inserted = Buffer.from(Array.from({ length: 1 + pick(32) }, () => pick(256)));
      return Buffer.concat([bytes.subarray(0, at), inserted, bytes.subarray(at)]);
    }
    default: {
      // overwrite a 4- or 8-byte little-endian field with a huge number
      const at = pick(Math.max(1, bytes.length - 8));
      if (next() < 0.5) bytes.writeUInt32LE(0xfffffff0 - pick(64), at);
      else bytes.writeBigUInt64LE(0x7ffffffffffffff0n, at);
      return bytes;
    }
  }
}

const CASES_PER_SEED = 1200;

interface FuzzSeedFile {
  file: string;
}

/**
 * CASES_PER_SEED mutations of each seed file, each loaded with `options` (CRC checks on for every other one, so that
 * mutations inside records reach the pickle and tensor code too): each loads, or fails with a CheckpointError, and the
 * process's memory stays bounded (the seeds are a few KB: no mutation may make the reader allocate what a hostile
 * header claims).
 */
function fuzz(
  seeds: FuzzSeedFile[],
  seed: number,
  options: LoadCheckpointOptions = {},
): { loaded: number; refused: number } {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vitorch-fuzz-'));
  const next = mulberry32(seed);
  const residentBefore = process.memoryUsage().rss;
  const outcomes = { loaded: 0, refused: 0 };
  try {
    for (const { file } of seeds) {
      const original = fs.readFileSync(checkpointPath(file));
      const target = path.join(workDir, path.basename(file));
      for (let i = 0; i < CASES_PER_SEED; i++) {
        fs.writeFileSync(target, mutate(original, next));
        try {
          const tensors = loadCheckpoint(target, { ...options, verifyChecksums: i % 2 === 0 });
          tensors.forEach((t) => {
            t.toTypedArray();
            t.dispose();
          });
          outcomes.loaded++;
        } catch (error) {
          if (!(error instanceof CheckpointError)) {
            throw new Error(`${file} case ${i}: ${String(error)} is not a CheckpointError`);
          }
          outcomes.refused++;
        }
      }
    }
  } finally {
    fs.rmSync(workDir, { recursive: true, force: true });
  }
  expect(outcomes.loaded + outcomes.refused).toBe(CASES_PER_SEED * seeds.length);
  expect(process.memoryUsage().rss - residentBefore).toBeLessThan(256 * 1024 * 1024);
  return outcomes;
}

test(`fuzz: ${CASES_PER_SEED} mutations of each format's seed file load or fail with CheckpointError`, () => {
  expect(fuzz(m.fuzzSeeds.checkpoints, 20261125).refused).toBeGreaterThan(0);
});

// With skipUnknownGlobals the unpickler goes on past unknown globals (placeholders, discarded arguments and state),
// so the same guarantees are checked again on that path: a timm-layout seed (Namespace, numpy scalars, optimizer
// state, EMA) and the plain zip and legacy seeds, mutated and read with the option on.
test(`fuzz with skipUnknownGlobals: ${CASES_PER_SEED} mutations of each seed load or fail with CheckpointError`, () => {
  const seeds = [
    ...m.fuzzSeeds.skipUnknownGlobals,
    ...m.fuzzSeeds.checkpoints.filter((s) => s.format !== 'safetensors'),
  ];
  const outcomes = fuzz(seeds, 20261126, { skipUnknownGlobals: true });
  // Unmutated regions keep the timm seed loadable, so both outcomes occur.
  expect(outcomes.loaded).toBeGreaterThan(0);
  expect(outcomes.refused).toBeGreaterThan(0);
});
