/**
 * Conv kernel micro-benchmarks (lib/backend/profile.ts) on the backend in use, one JSON line per
 * kernel and shape:
 *
 *   npx tsx scripts/profile-conv-kernels.ts                 # wasm, all cores, default shapes
 *   CWD_NATIVE=0 npx tsx scripts/profile-conv-kernels.ts    # the JS-composed kernels instead of the native ones
 *   CWD_BACKEND=cpu npx tsx scripts/profile-conv-kernels.ts
 *   REPS=9 npx tsx scripts/profile-conv-kernels.ts          # repetitions per shape (default 5)
 */
import { initBackend } from '../lib/backend';
import { benchmarkConvKernels, DEFAULT_CONV_SHAPES } from '../lib/backend/profile';

(async () => {
  await initBackend();
  const reps = Number(process.env.REPS ?? 5);
  for (const r of await benchmarkConvKernels(DEFAULT_CONV_SHAPES, reps)) console.log(JSON.stringify(r));
})().catch((e) => { console.error(e); process.exit(1); });
