import type { LabArch } from './arch';
import { prepareArm64Root } from './arm64';
import { prepareLeakModule, prepareWorkloadBinaries } from './artifacts';
import { prepareInitramfs } from './initramfs';
import { KERNEL_NAMES, prepareKernel, type KernelName, type Progress } from './kernels';

/** What preparing one kernel came to; `error` is one line plus the failing step's last output lines. */
export interface PrepareOutcome {
  kernel: KernelName;
  /** The guest arch when not x86_64. */
  arch?: LabArch;
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
export async function prepareLab(kernels: readonly KernelName[] = KERNEL_NAMES, onProgress: Progress = () => undefined, arch: LabArch = 'x86_64'): Promise<PrepareOutcome[]> {
  const outcomes: PrepareOutcome[] = [];
  let workloads: string | null = null;
  let busybox: string | undefined;
  try {
    onProgress('workloads: building');
    await prepareWorkloadBinaries(arch);
    // arm64: the guest's own root (its busybox goes into the initramfs too).
    if (arch === 'arm64') busybox = (await prepareArm64Root(onProgress)).busybox;
  } catch (err) {
    workloads = `building the lab workloads${arch === 'arm64' ? ' and the arm64 root' : ''} failed: ${(err as Error).message}`;
  }
  for (const name of kernels) {
    const started = Date.now();
    const seconds = (): number => Math.round((Date.now() - started) / 100) / 10;
    let step: 'kernel' | 'initramfs' | 'leak module' = 'kernel';
    try {
      const kernel = await prepareKernel(name, { onProgress, arch });
      step = 'initramfs';
      if (arch === 'arm64' && !busybox) throw new Error(workloads ?? 'no arm64 root');
      await prepareInitramfs(kernel, undefined, busybox);
      step = 'leak module';
      await prepareLeakModule(kernel);
      if (workloads) throw new Error(workloads);
      outcomes.push({ kernel: name, ...(arch !== 'x86_64' ? { arch } : {}), ok: true, release: kernel.release, seconds: seconds() });
    } catch (err) {
      const error = workloads ?? `${stepName(name, step)} failed: ${(err as Error).message}`;
      outcomes.push({ kernel: name, ...(arch !== 'x86_64' ? { arch } : {}), ok: false, seconds: seconds(), error });
    }
  }
  return outcomes;
}
