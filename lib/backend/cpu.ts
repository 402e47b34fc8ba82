/** Fixes for the pure-JS cpu backend (placeholder: the backend helper owns this file). */
export function patchCpuBackend(): void {
  // ResizeBilinearGrad shape fix goes here.
}
