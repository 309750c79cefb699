import { ATTACH_KINDS } from '../loader/object';
import { CATALOGUE } from './catalogue';
import { AttachMode, ProbeSpec } from './types';

const MODES: readonly AttachMode[] = ATTACH_KINDS;

export interface ProbeSelection {
  /** The logical probes asked for. */
  names: Set<string>;
  /** The catalogue with the candidates of `NAME:MODE` entries narrowed to that mode. */
  catalogue: ProbeSpec[];
}

/**
 * Parses `--probes`: comma-separated logical probes, each optionally `NAME:MODE` to
 * allow only the candidates of that attach mode (`vfio.pin:kprobe` takes the
 * kprobe/kretprobe pair, which, unlike fentry/fexit on a module function, holds no
 * reference on the module). Unknown names or modes throw one line.
 */
export function selectProbes(list: string, catalogue: ProbeSpec[] = CATALOGUE): ProbeSelection {
  const names = new Set<string>();
  const modes = new Map<string, AttachMode>();
  const unknown: string[] = [];
  for (const entry of list.split(',').map((s) => s.trim()).filter(Boolean)) {
    const [name, mode, extra] = entry.split(':');
    const spec = catalogue.find((s) => s.name === name);
    if (!spec) {
      unknown.push(name);
      continue;
    }
    if (extra !== undefined || (mode !== undefined && !MODES.includes(mode as AttachMode))) {
      throw new Error(`${entry}: the mode after the colon is one of ${MODES.join(', ')}`);
    }
    names.add(name);
    if (mode) {
      const m = mode as AttachMode;
      if (!spec.candidates.some((c) => c.mode === m || c.programs.some((p) => p.attach === m))) {
        throw new Error(`${name} has no ${m} variant (its modes: ${[...new Set(spec.candidates.map((c) => c.mode))].join(', ')})`);
      }
      modes.set(name, m);
    }
  }
  if (unknown.length) throw new Error(`unknown probe ${unknown.join(', ')} (see iommutrace doctor)`);
  if (names.size === 0) throw new Error('--probes names no probe');
  return {
    names,
    catalogue: catalogue.map((s) => {
      const m = modes.get(s.name);
      if (!m) return s;
      return { ...s, candidates: s.candidates.filter((c) => c.mode === m || c.programs.some((p) => p.attach === m)) };
    }),
  };
}

/** `--probes` as record, top and export describe it. */
export const PROBES_FLAG =
  'comma-separated logical probes to attach (default: all); NAME:MODE allows only that attach mode (e.g. vfio.pin:kprobe, which does not hold the module)';

export const HOLD_MODULES_FLAG =
  'inside modules, prefer fentry/fexit to kprobes (cheaper per call, but the kernel then refuses to unload those modules while attached)';

/** What a live source is opened with for `--probes LIST` (nothing when the flag is absent). */
export function liveSelection(list: string | undefined): { select?: (name: string) => boolean; catalogue?: ProbeSpec[] } {
  if (list === undefined) return {};
  const s = selectProbes(list);
  return { select: (n) => s.names.has(n), catalogue: s.catalogue };
}
