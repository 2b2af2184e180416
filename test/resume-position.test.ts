// resumeStep: a mid-epoch stop is a position in the epoch's images (steps x batch x processes), which a resumed run
// with other processes or another batch goes on from. The figures below follow from that definition.
import { resumeStep } from '../lib/cli/resume-position';
import { expectThrows } from './expect-error';

test('the same processes and batch resume at the same step', () => {
  expect(resumeStep({ step: 5, worldSize: 2, batchSize: 4 }, { worldSize: 2, batchSize: 4, steps: 32 })).toEqual({
    step: 5,
    samples: 40,
    repeated: 0,
  });
});

test('the same global batch on other processes resumes at the same step', () => {
  // 5 steps of 2 x 4 images are the first 40 images of the epoch's order, 5 steps of 1 x 8.
  expect(resumeStep({ step: 5, worldSize: 2, batchSize: 4 }, { worldSize: 1, batchSize: 8, steps: 32 })).toEqual({
    step: 5,
    samples: 40,
    repeated: 0,
  });
});

test('a larger global batch goes on at the step that starts before the position and trains the rest again', () => {
  // 3 steps of 1 x 8 = 24 images; 4 processes of 4 take 16 images a step: step 1 starts at image 16.
  expect(resumeStep({ step: 3, worldSize: 1, batchSize: 8 }, { worldSize: 4, batchSize: 4, steps: 16 })).toEqual({
    step: 1,
    samples: 24,
    repeated: 8,
  });
});

test("a position past the resumed run's last step ends the epoch, repeating nothing", () => {
  // 2 steps of 3 x 4 = 24 images; one process of 4 has only 5 steps here (its epoch keeps fewer images).
  expect(resumeStep({ step: 2, worldSize: 3, batchSize: 4 }, { worldSize: 1, batchSize: 4, steps: 5 })).toEqual({
    step: 5,
    samples: 24,
    repeated: 0,
  });
});

test('bad positions are refused by name', () => {
  const now = { worldSize: 1, batchSize: 4, steps: 5 };
  expectThrows(
    () => resumeStep({ step: -1, worldSize: 1, batchSize: 4 }, now),
    RangeError,
    'expected an integer >= 0 for stopped step, received number -1',
  );
  expectThrows(
    () => resumeStep({ step: 1, worldSize: 0, batchSize: 4 }, now),
    RangeError,
    'expected an integer >= 1 for stopped worldSize, received number 0',
  );
  expectThrows(
    () => resumeStep({ step: 1, worldSize: 1, batchSize: 4 }, { ...now, batchSize: 2.5 }),
    RangeError,
    'expected an integer >= 1 for batchSize, received number 2.5',
  );
});
