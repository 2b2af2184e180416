// The contestants bench/inference.ts runs in a bench/inference-node.ts process, one per process.
// vitorch-vendor-dispatch is vitorch-sync run with VITORCH_MKL_VENDOR_DISPATCH=1 (set by bench/inference.ts);
// vitorch-int8 runs in bench/serve.ts's offline sweep (bench/inference.ts does not run it).
export const NODE_CONTESTANTS = [
  'vitorch-sync',
  'vitorch-async',
  'vitorch-vendor-dispatch',
  'vitorch-bf16',
  'vitorch-fp16',
  'vitorch-int8',
  'onnxruntime',
  'onnxruntime-int8',
] as const;
export type NodeContestant = (typeof NODE_CONTESTANTS)[number];
