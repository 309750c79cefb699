import { prepareLeakModule, prepareWorkloadBinaries } from './artifacts';
import { prepareInitramfs } from './initramfs';
import { KERNEL_NAMES, prepareKernel, type KernelName, type Progress } from './kernels';

/** What preparing one kernel came to; `error` is one line plus the failing step's last output lines. */
export interface PrepareOutcome {
  kernel: KernelName;
  ok: boolean;
  release?: string;
  seconds: number;
  error?: string;
}

/** What the failing step was, in words, for "<step> failed: ...". */
function stepName(kernel: KernelName, step: 'kernel' | 'initramfs' | 'leak module'): string {
  if (step === 'kernel') return kernel === 'iommufd-6.12' ? 'building the iommufd-6.12 kernel' : `downloading and unpacking the ${kernel} kernel`;
  return `building the ${step} for ${kernel}`;
}

/**
 * Everything a boot needs, made before any boot: the C workloads once, then per kernel
 * its packages or its build, the initramfs and the leak module. All of it is cached,
 * so a second call costs a few stat()s. Each kernel is tried even when another failed;
 * the outcomes say which failed, at which step, with the tail of its output.
 */
export async function prepareLab(kernels: readonly KernelName[] = KERNEL_NAMES, onProgress: Progress = () => undefined): Promise<PrepareOutcome[]> {
  const outcomes: PrepareOutcome[] = [];
  let workloads: string | null = null;
  try {
    onProgress('workloads: building');
    await prepareWorkloadBinaries();
  } catch (err) {
    workloads = `building the lab workloads failed: ${(err as Error).message}`;
  }
  for (const name of kernels) {
    const started = Date.now();
    const seconds = (): number => Math.round((Date.now() - started) / 100) / 10;
    let step: 'kernel' | 'initramfs' | 'leak module' = 'kernel';
    try {
      const kernel = await prepareKernel(name, { onProgress });
      step = 'initramfs';
      await prepareInitramfs(kernel);
      step = 'leak module';
      await prepareLeakModule(kernel);
      if (workloads) throw new Error(workloads);
      outcomes.push({ kernel: name, ok: true, release: kernel.release, seconds: seconds() });
    } catch (err) {
      const error = workloads ?? `${stepName(name, step)} failed: ${(err as Error).message}`;
      outcomes.push({ kernel: name, ok: false, seconds: seconds(), error });
    }
  }
  return outcomes;
}
