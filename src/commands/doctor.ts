import { Flags } from '@oclif/core';
import { BaseCommand, UserError } from '../command';
import { CATALOGUE } from '../probes/catalogue';
import { BTF_ENV, KernelFacts, LiveKernel } from '../probes/kernel-live';
import { plan, PlannedProbe } from '../probes/planner';
import { privilegeProblem } from '../probes/privileges';
import { ReasonCode } from '../probes/reasons';
import { attachAllVariants, VariantResult } from '../probes/variants';
import { table } from '../report/table';

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
    try {
      const planned = plan(kernel, CATALOGUE);
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
      };
      if (flags.attach) report.variants = await attachAllVariants(kernel, CATALOGUE.filter((s) => !s.optIn));
    } finally {
      kernel.close();
    }
    this.log(flags.json ? JSON.stringify(report, null, 2) : render(report));
    if (report.summary.available === 0) process.exitCode = 1;
  }
}

function yes(b: boolean): string {
  return b ? 'yes' : 'no';
}

function render(r: DoctorReport): string {
  const k = r.kernel;
  const tracefs = k.tracefs.path ? `${k.tracefs.path}${k.tracefs.mountedByUs ? ' (mounted now)' : ''}` : k.tracefs.error;
  const lines = [
    `kernel      ${k.release}`,
    `BTF         ${k.btf ? 'yes' : 'no (/sys/kernel/btf/vmlinux is missing)'}    lockdown ${k.lockdown ?? 'unknown'}    kprobes ${yes(k.kprobes)}    ring buffer ${yes(k.ringbuf)}`,
  ];
  if (!k.btf) {
    lines.push(
      `CO-RE       ${k.coreBtf ? `kernel types from ${k.coreBtf}; fentry/fexit and tp_btf need the kernel's own BTF` : `no kernel types: no program can load (set ${BTF_ENV} to a BTF file for this kernel)`}`,
    );
  }
  if (k.btfError) lines.push(`            ${k.btfError}`);
  lines.push(
    `tracefs     ${tracefs}`,
    `privileges  ${k.capabilities.join(' ') || 'none'}`,
    `modules     ${k.modules.join(' ') || '(no vfio/iommu modules loaded)'}`,
    '',
    table(
      ['PROBE', 'STATUS', 'MODE', 'TARGET', 'NOTES'],
      r.probes.map((p) => [
        p.name,
        p.status,
        p.mode ?? '-',
        p.target ? (p.module ? `${p.target} [${p.module}]` : p.target) : '-',
        p.reason ?? (p.lacks.length ? `lacks ${p.lacks.join(', ')}` : ''),
      ]),
    ),
    '',
    `${r.summary.available} of ${r.probes.length} probes can attach on this kernel.`,
  );
  if (r.variants) {
    const present = r.variants.filter((v) => v.status !== 'absent');
    lines.push(
      '',
      table(
        ['PROBE', 'MODE', 'TARGET', 'VARIANT'],
        present.map((v) => [v.probe, v.mode, v.target, v.status === 'attached' ? 'attached' : `refused: ${v.reason}`]),
      ),
      '',
      `${present.filter((v) => v.status === 'attached').length} of ${present.length} variants whose target this kernel has loaded and attached.`,
    );
  }
  return lines.join('\n');
}
