// model.to({ dtype }) warns once per process (process.emitWarning with a code) when the CPU runs that precision at a
// fraction of float32's speed: bfloat16 on CPUs without AVX-512 BF16 or AMX-BF16, float16 on every CPU; and
// model.quantize() where int8 gains much less than it can (no VNNI or AMX). The
// expectation is read from /proc/cpuinfo here, independently of lib/cpu-features.ts, so that the test means
// something on both kinds of machine this project runs on (AVX2-only and AVX-512 BF16).
import * as fs from 'fs';
import { VisionTransformer, VisionTransformerOptions } from '../lib';

const cpuinfo = fs.existsSync('/proc/cpuinfo') ? fs.readFileSync('/proc/cpuinfo', 'utf8') : '';
const hasBf16 = cpuinfo === '' || /^flags\s*:.*\b(avx512_bf16|amx_bf16)\b/m.test(cpuinfo);
// int8 dot products: VNNI in AVX-512 or AVX form, or AMX.
const hasInt8DotProducts = cpuinfo === '' || /^flags\s*:.*\b(avx512_vnni|avx_vnni|amx_int8)\b/m.test(cpuinfo);

const TINY: VisionTransformerOptions = {
  inputShape: [16, 16],
  patchSize: 8,
  inChans: 1,
  numClasses: 3,
  numFeatures: 8,
  depth: 1,
  numHeads: 2,
};
const tiny = () => new VisionTransformer(TINY);

function warningsDuring(body: () => void): { code?: string; message: string }[] {
  const emit = jest.spyOn(process, 'emitWarning');
  try {
    body();
    return emit.mock.calls
      .map(([message, options]) => ({
        code: (options as { code?: string } | undefined)?.code,
        message: String(message),
      }))
      .filter((w) => w.code?.startsWith('VITORCH_'));
  } finally {
    emit.mockRestore();
  }
}

test('float16 on the CPU warns once, naming the reason; float32 and repeated moves do not', () => {
  const warnings = warningsDuring(() => {
    const model = tiny();
    model.to('float32');
    model.to({ dtype: 'float16' });
    expect(model.dtype).toBe('float16');
    model.to('float32').to({ device: 'cpu', dtype: 'float16' });
    tiny().to('float16');
  });
  expect(warnings).toEqual([
    {
      code: 'VITORCH_SLOW_FLOAT16',
      message: expect.stringMatching(
        /^model\.to\(\{ dtype: 'float16' \}\) on the CPU: libtorch computes float16 slowly on every CPU .*float32 is faster on this machine/,
      ),
    },
  ]);
});

test(`bfloat16 ${hasBf16 ? 'does not warn on this CPU (it computes in bfloat16)' : 'warns on this CPU (no AVX-512 BF16 or AMX)'}`, () => {
  const warnings = warningsDuring(() => {
    tiny().to('bfloat16');
    tiny().to({ dtype: 'bfloat16' });
  });
  expect(warnings.map((w) => w.code)).toEqual(hasBf16 ? [] : ['VITORCH_SLOW_BFLOAT16']);
  if (!hasBf16) expect(warnings[0].message).toMatch(/without AVX-512 BF16 or AMX/);
});

test('float16 autocast in a Trainer on the CPU warns with the same code, once', () => {
  // A fresh copy of vitorch: its warned-once memory starts empty.
  jest.isolateModules(() => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- jest.isolateModules loads a fresh copy only through require
    const fresh = require('../lib') as typeof import('../lib');
    const warnings = warningsDuring(() => {
      const model = new fresh.VisionTransformer(TINY);
      new fresh.Trainer(model, { optimizer: fresh.sgd(model), autocast: 'float16' });
      new fresh.Trainer(model, { optimizer: fresh.sgd(model), autocast: 'float16' });
    });
    expect(warnings.map((w) => w.code)).toEqual(['VITORCH_SLOW_FLOAT16']);
    expect(warnings[0].message).toMatch(/^float16 autocast on the CPU: /);
  });
});

test(`int8 ${hasInt8DotProducts ? 'does not warn on this CPU (it has int8 dot products)' : 'warns on this CPU (no VNNI or AMX)'}`, () => {
  jest.isolateModules(() => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- jest.isolateModules loads a fresh copy only through require
    const fresh = require('../lib') as typeof import('../lib');
    const warnings = warningsDuring(() => {
      new fresh.VisionTransformer(TINY).eval().quantize();
      new fresh.VisionTransformer(TINY).eval().quantize();
    });
    expect(warnings.map((w) => w.code)).toEqual(hasInt8DotProducts ? [] : ['VITORCH_SLOW_INT8']);
    if (!hasInt8DotProducts) {
      expect(warnings[0].message).toMatch(/^model\.quantize\(\) on the CPU: a CPU without VNNI or AMX/);
      // int8 still beats float32 there: the warning must not claim otherwise.
      expect(warnings[0].message).not.toMatch(/float32 is faster/);
    }
  });
});
