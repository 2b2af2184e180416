// bfloat16 autocast warns (once per Trainer, as a process warning with a code) exactly on CPUs that lack bfloat16
// arithmetic; the expectation is read from /proc/cpuinfo here, independently of lib/cpu-features.ts, so the test
// means something on both kinds of machine this project runs on (AVX2-only and AVX-512 BF16).
import * as fs from 'fs';
import { sgd, Trainer, VisionTransformer } from '../lib';
import { TINY_VIT } from './train-cli-fixtures';

const cpuinfo = fs.existsSync('/proc/cpuinfo') ? fs.readFileSync('/proc/cpuinfo', 'utf8') : '';
const hasBf16 = cpuinfo === '' || /^flags\s*:.*\b(avx512_bf16|amx_bf16)\b/m.test(cpuinfo);

test(`bfloat16 autocast ${hasBf16 ? 'does not warn on this CPU (it has bfloat16 arithmetic)' : 'warns on this CPU (no AVX-512 BF16 or AMX)'}`, () => {
  const emit = jest.spyOn(process, 'emitWarning');
  try {
    const model = new VisionTransformer(TINY_VIT);
    new Trainer(model, { optimizer: sgd(model), autocast: 'bfloat16' });
    new Trainer(model, { optimizer: sgd(model) });
    const ours = emit.mock.calls.filter(
      ([, options]) => (options as { code?: string } | undefined)?.code === 'VITORCH_SLOW_BFLOAT16',
    );
    expect(ours.length).toBe(hasBf16 ? 0 : 1);
    if (!hasBf16) expect(String(ours[0][0])).toMatch(/without AVX-512 BF16 or AMX/);
  } finally {
    emit.mockRestore();
  }
});
