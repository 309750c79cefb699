/** The kernel lab: throwaway QEMU guests on real kernels with an emulated IOMMU. */
export { prepareKernel, resolveDebianAbi, KERNEL_NAMES, type KernelName, type PreparedKernel, type Progress } from './kernels';
export { prepareInitramfs, vfioModules } from './initramfs';
export { prepareWorkloadBinaries, prepareLeakModule } from './artifacts';
export { runLab, LabBootError, LabWorkloadError, type RunLabOptions, type LabResult } from './run';
export { type Schedule } from './guest-script';
export { labCache } from './paths';
export { IOMMU_VENDORS, type IommuVendor } from './qemu';
export * from './workloads';
