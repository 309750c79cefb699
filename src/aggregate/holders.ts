/**
 * Which stack frames belong to the IOMMU core's own group functions (skipped when
 * naming who took a reference), and which takers are known long-lived holders
 * (a reference they keep is "held", not "leaked").
 */
/** The IOMMU core's own group-reference functions: the traced ones and their helpers. */
const CORE_FUNCTIONS = [/^iommu_group_get\b/, /^iommu_group_ref_get\b/, /^iommu_group_put\b/, /^__iommu_group_/];

/** Frames of the tracing machinery itself. */
const CORE_FRAMES = [
  ...CORE_FUNCTIONS,
  /^bpf_trampoline_/,
  /^bpf_prog_/,
  /\[bpf\]$/,
  /^ftrace_trampoline\b/, // fentry through ftrace
  /\[__builtin__ftrace\]$/,
  /^0x/, // unsymbolized trampoline or BPF frames
];

export interface Holder {
  /** Frame name prefix of the taker. */
  taker: RegExp;
  /** What holds the reference, for the report. */
  holder: string;
}

export const HOLDERS: Holder[] = [
  { taker: /^vfio_group_find_or_alloc\b/, holder: 'vfio group' },
  { taker: /^vfio_create_group\b/, holder: 'vfio group' },
  { taker: /^vfio_device_set_group\b/, holder: 'vfio group' },
  { taker: /^vfio_iommu_type1_attach_group\b/, holder: 'vfio type1 container' },
  { taker: /^iommufd_device_bind\b/, holder: 'iommufd device' },
  { taker: /^iommufd_get_group\b/, holder: 'iommufd device' },
  { taker: /^iommufd_group_get\b/, holder: 'iommufd device' },
  { taker: /^iommu_group_add_device\b/, holder: 'iommu group membership' },
  { taker: /^iommu_probe_device\b/, holder: 'iommu group membership' },
];

/**
 * The first frame outside the IOMMU core's group functions. Frames are innermost
 * first; with fentry/fexit the stack starts in the trampoline (whose address may
 * fall near any module's symbols), so everything up to the outermost core frame
 * is skipped, and tracing frames after it too.
 */
export function takerOf(frames: string[]): string {
  let start = 0;
  frames.forEach((f, i) => {
    if (CORE_FUNCTIONS.some((re) => re.test(f))) start = i + 1;
  });
  return frames.slice(start).find((f) => !CORE_FRAMES.some((re) => re.test(f))) ?? frames[frames.length - 1] ?? 'unknown';
}

export function holderOf(taker: string): string | undefined {
  return HOLDERS.find((h) => h.taker.test(taker))?.holder;
}
