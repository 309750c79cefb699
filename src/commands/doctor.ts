import { groupDomainType, hostDevices, type HostDevice } from '../probes/iommu-groups';
import * as Flags from '@oclif/core/flags';
import { BaseCommand, UserError } from '../command';
import { CATALOGUE } from '../probes/catalogue';
import { BTF_ENV, KernelFacts, LiveKernel } from '../probes/kernel-live';
import { plan, PlannedProbe } from '../probes/planner';
import { privilegeProblem } from '../probes/privileges';
import { ReasonCode } from '../probes/reasons';
import { mapMemory, type MapMemory } from '../probes/kernel-memory';
import { DEFAULT_OBJECT } from '../probes/session';
import { BpfObject, native } from '../loader';
import { attachAllVariants, VariantResult } from '../probes/variants';
import { escapeControls, outputWidth, table, wrap } from '../report/table';
import { byCause, CauseGroup } from '../probes/causes';

export interface DoctorReport {
  format: 'iommutrace-doctor/1';
  kernel: KernelFacts;
  probes: {
    name: string;
    target: string | null;
    mode: string | null;
    module: string | null;
    status: PlannedProbe['status'];
    reason: string | null;
    /** The cause of `reason` as a code (src/probes/reasons.ts); null when available. */
    reason_code: ReasonCode | null;
    lacks: string[];
    tried: { mode: string; target: string; reason: string; reason_code: ReasonCode }[];
  }[];
  summary: { available: number; unavailable: number };
  /** Every device behind an IOMMU: its group, driver, IOMMU driver, the group's default domain type, and how it is held. */
  devices: (HostDevice & { domain_type: string | null })[];
  /** The BPF maps' kernel memory when every key is in use: on this host, and on hosts with 64 and 256 possible CPUs. */
  kernel_memory: { possible_cpus: number; full_bytes: number; maps: MapMemory[]; full_bytes_at: Record<string, number> } | { error: string };
  /** With --attach: every candidate loaded and attached for real. */
  variants?: VariantResult[];
}

export default class Doctor extends BaseCommand {
  static override summary = 'Check this kernel and show which probe each path would use, or why none can.';
  static override description = `Prints the kernel's facts (release, BTF, lockdown, tracefs, kprobes, capabilities)
and, for every logical probe, the kernel symbol and attach mode the planner would use,
or the reason for every candidate it had to pass over. Nothing is attached.
Exits 0 when at least one probe can attach.`;

  static override flags = {
    json: Flags.boolean({ description: 'print the report as JSON (format iommutrace-doctor/1)', default: false }),
    attach: Flags.boolean({
      description: 'also load and attach every candidate variant this kernel has (a few seconds), then detach',
      default: false,
    }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Doctor);
    const problem = privilegeProblem();
    if (problem) throw new UserError(problem);
    const kernel = new LiveKernel();
    let report: DoctorReport;
    let causes: CauseGroup[];
    try {
      const planned = plan(kernel, CATALOGUE);
      causes = byCause(planned);
      const available = planned.filter((p) => p.status === 'available').length;
      report = {
        format: 'iommutrace-doctor/1',
        kernel: kernel.facts(),
        probes: planned.map((p) => ({
          name: p.name,
          target: p.target,
          mode: p.mode,
          module: p.module ?? null,
          status: p.status,
          reason: p.reason,
          reason_code: p.reasonCode,
          lacks: p.lacks,
          tried: p.tried.map((t) => ({ mode: t.mode, target: t.target, reason: t.reason, reason_code: t.code })),
        })),
        summary: { available, unavailable: planned.length - available },
        devices: withGroupTypes(hostDevices()),
        kernel_memory: kernelMemory(),
      };
      if (flags.attach) report.variants = await attachAllVariants(kernel, CATALOGUE.filter((s) => !s.optIn));
    } finally {
      kernel.close();
    }
    this.log(flags.json ? JSON.stringify(report, null, 2) : render(report, causes, outputWidth()));
    if (report.summary.available === 0) process.exitCode = 1;
  }
}

/** The object's maps sized for this host, and what they would take on bigger ones (nothing is loaded). */
function kernelMemory(): DoctorReport['kernel_memory'] {
  let obj: BpfObject;
  try {
    obj = BpfObject.open(DEFAULT_OBJECT);
  } catch (err) {
    return { error: (err as Error).message.split('\n')[0] };
  }
  try {
    const shapes = obj.mapInfo();
    const total = (maps: MapMemory[]) => maps.reduce((n, m) => n + m.fullBytes, 0);
    const cpus = native().numPossibleCpus;
    const maps = mapMemory(shapes, cpus);
    return { possible_cpus: cpus, full_bytes: total(maps), maps, full_bytes_at: Object.fromEntries([64, 256].map((c) => [String(c), total(mapMemory(shapes, c))])) };
  } finally {
    obj.close();
  }
}

function yes(b: boolean): string {
  return b ? 'yes' : 'no';
}

/** The probes under each cause, one numbered paragraph per cause (the table's NOTES refer to the numbers). */
function renderCauses(causes: CauseGroup[], unavailable: number, width: number): string[] {
  if (causes.length === 0) return [];
  const lines = ['', ...wrap('Causes (a probe is under each cause one of its candidates met; --json has every reason):', width)];
  const digits = String(causes.length).length;
  causes.forEach((c, i) => {
    const who =
      c.probes.length === unavailable && c.probes.every((p) => p.targets.length === 0)
        ? `all ${unavailable} unavailable probes`
        : `${c.probes.length} probe${c.probes.length === 1 ? '' : 's'}: ` + c.probes.map((p) => (p.targets.length ? `${p.name} (${p.targets.join(', ')})` : p.name)).join(', ');
    const text = escapeControls(`${String(i + 1).padStart(digits)}  [${c.code}] ${c.cause}: ${who}`);
    lines.push(...wrap(text, width - 2, digits + 2).map((l) => `  ${l}`));
  });
  return lines;
}

/** The numbers of the causes `name` is under, for its NOTES. */
function causeRefs(causes: CauseGroup[], name: string): string {
  const refs = causes.flatMap((c, i) => (c.probes.some((p) => p.name === name) ? [String(i + 1)] : []));
  return refs.length ? `see ${refs.join(', ')}` : '';
}

/** Each device with its group's default domain type, read once per group. */
function withGroupTypes(devices: HostDevice[]): DoctorReport['devices'] {
  const types = new Map<number, string | null>();
  return devices.map((d) => {
    if (!types.has(d.group)) types.set(d.group, groupDomainType(d.group));
    return { ...d, domain_type: types.get(d.group)! };
  });
}

/** The kernel's facts, each wrapped under its own column, and the devices behind an IOMMU. */
function kernelLines(r: DoctorReport, width: number): string[] {
  const k = r.kernel;
  const tracefs = k.tracefs.path ? `${k.tracefs.path}${k.tracefs.mountedByUs ? ' (mounted now)' : ''}` : k.tracefs.error;
  const fact = (label: string, text: string): string[] => wrap(`${label.padEnd(12)}${text}`, width, 12);
  const lines = [
    ...fact('kernel', k.release),
    ...fact('BTF', `${k.btf ? 'yes' : 'no (/sys/kernel/btf/vmlinux is missing)'}    lockdown ${k.lockdown ?? 'unknown'}    kprobes ${yes(k.kprobes)}    ring buffer ${yes(k.ringbuf)}`),
  ];
  if (!k.btf) {
    lines.push(
      ...fact('CO-RE', k.coreBtf ? `kernel types from ${k.coreBtf}; fentry/fexit and tp_btf need the kernel's own BTF` : `no kernel types: no program can load (set ${BTF_ENV} to a BTF file for this kernel)`),
    );
  }
  if (k.btfError) lines.push(...fact('', k.btfError));
  lines.push(
    ...fact('tracefs', tracefs ?? ''),
    ...fact('privileges', k.capabilities.join(' ') || 'none'),
    ...fact('modules', k.modules.join(' ') || '(no vfio/iommu modules loaded)'),
    ...fact('BPF maps', mapsLine(r.kernel_memory)),
    ...fact('devices', r.devices.length ? `${r.devices.length} behind an IOMMU` : 'none behind an IOMMU (no IOMMU, or it is off)'),
  );
  if (r.devices.length) {
    const rows = r.devices.map((d) => [d.device, String(d.group), d.driver || '-', d.path ?? '-', d.iommu_driver ?? '-', d.domain_type ?? '-']);
    lines.push('', table(['DEVICE', 'GROUP', 'DRIVER', 'PATH', 'IOMMU', 'DOMAIN'], rows, 2, width));
  }
  return lines;
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

/** One line: the maps' kernel memory at most here, and on the bigger hosts. */
function mapsLine(m: DoctorReport['kernel_memory']): string {
  if ('error' in m) return `unknown: ${m.error}`;
  const at = Object.entries(m.full_bytes_at).map(([cpus, b]) => `${mb(b)} with ${cpus}`).join(', ');
  const threads = m.maps.filter((x) => x.perThreadBytes !== undefined).map((x) => `${x.map} ${x.perThreadBytes} bytes`).join(', ');
  return `at most ${mb(m.full_bytes)} of kernel memory with every table full (${m.possible_cpus} possible CPUs; ${at})${threads ? `, and a thread in a traced call holds ${threads} until it exits` : ''}`;
}

export function render(r: DoctorReport, causes: CauseGroup[], width: number): string {
  const lines = [
    ...kernelLines(r, width),
    '',
    table(
      ['PROBE', 'STATUS', 'MODE', 'TARGET', 'NOTES'],
      r.probes.map((p) => [
        p.name,
        p.status,
        p.mode ?? '-',
        p.target ? (p.module ? `${p.target} [${p.module}]` : p.target) : '-',
        // The words are grouped below, once per cause: here the numbers of its causes.
        p.status === 'unavailable' ? causeRefs(causes, p.name) : p.lacks.length ? `lacks ${p.lacks.join(', ')}` : '',
      ]),
      2,
      width,
    ),
    ...renderCauses(causes, r.summary.unavailable, width),
    '',
    `${r.summary.available} of ${r.probes.length} probes can attach on this kernel.`,
  ];
  if (r.variants) {
    const present = r.variants.filter((v) => v.status !== 'absent');
    lines.push(
      '',
      table(
        ['PROBE', 'MODE', 'TARGET', 'VARIANT'],
        present.map((v) => [v.probe, v.mode, v.target, v.status === 'attached' ? 'attached' : `refused (${v.reason_code}): ${v.reason}`]),
        2,
        width,
      ),
      '',
      `${present.filter((v) => v.status === 'attached').length} of ${present.length} variants whose target this kernel has loaded and attached.`,
    );
  }
  return lines.join('\n');
}
