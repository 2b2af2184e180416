// Tests run from the TypeScript sources through ts-jest; the native addon comes from build/ (npm run build:native).
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': 'ts-jest' },
  // ViT-B/16 forwards take about a second each on two cores.
  testTimeout: 120000,
};
