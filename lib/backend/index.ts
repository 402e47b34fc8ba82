/** Backend support: wasm training kernels, dilated-conv gradients, cpu fixes (see each file). */
export { startWasmBackend, wasmThreadingReport, type WasmThreadingReport } from './wasm';
export { registerWasmTrainingKernels, wasmTrainingKernelsRegistered, wasmNativeKernelsActive, WASM_TRAINING_KERNELS, NATIVE_ELEMENTWISE, cpuFallbackKernel, replaceKernel } from './wasm-kernels';
export { loadNativeKernels, nativeKernelsStatus, setNativeThreads, buildNativeKernels, type NativeStatus } from './native';
export { registerDilatedConvGradients } from './gradients';
export { registerNativeLossKernels, fusedLossesActive, setFusedLosses, PA_FUSED_MAX_NODES } from './loss-kernels';
export { patchCpuBackend } from './cpu';
export { startWebgpuBackend, probeWebgpuAdapters, registerWebgpuFixes, webgpuReport, webgpuStockKernel, describeAdapter, dawnNodePath, type WebgpuAdapterInfo, type WebgpuStartResult, type WebgpuStartOptions } from './webgpu';
export { conv2dFilterGrad, conv2dInputGrad, depthwiseFilterGrad, depthwiseInputGrad, type ConvGeometry } from './conv-grads';
export { benchmarkConvKernels, DEFAULT_CONV_SHAPES, type ConvBenchShape, type ConvBenchResult } from './profile';
