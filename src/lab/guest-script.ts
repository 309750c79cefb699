import { GO, HELD, type WorkloadName } from './workloads';

/**
 * When the workloads run relative to the command:
 * - `before`: workloads to completion, then the command (it sees what they left,
 *   e.g. a leaked group reference);
 * - `around`: the command starts in the background, the workloads run once it is
 *   ready, then it gets `stopSignal` and its exit code is the run's (record a capture
 *   around a workload);
 * - `background`: the command runs in the foreground and the workloads start in the
 *   background once it is ready, repeating until it exits when `repeat` is set (a live
 *   TUI watching traffic).
 */
export type Schedule = 'before' | 'around' | 'background';

export interface GuestScript {
  outDir: string;
  cwd: string;
  /**
   * Each workload's argv, with GROUND_TRUTH standing for its ground-truth file. Early
   * ones start before the command and are told to go on (GO) when the others start.
   */
  workloads: { name: WorkloadName; argv: string[]; early?: boolean }[];
  command: string[] | null;
  schedule: Schedule;
  /** Extended regexp the command prints (stdout or stderr) once it is ready. */
  readyPattern?: string;
  readyTimeoutMs: number;
  readyDelayMs: number;
  stopSignal: 'INT' | 'TERM';
  repeat: boolean;
  interactive: boolean;
  /** Terminal size to give the serial console, for a TUI. */
  tty?: { rows: number; cols: number };
  env: Record<string, string>;
  /** Directories prepended to PATH. */
  path: string[];
}

export const GROUND_TRUTH = '@GROUND_TRUTH@';

function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

const secs = (ms: number): string => (ms / 1000).toFixed(1);

/** The per-run script the guest runs in its chroot of the host root (dash). */
export function guestScript(s: GuestScript): string {
  const lines: string[] = [
    '#!/bin/sh',
    '# Written by `iommutrace lab` for one run; the guest runs it chrooted into the host root.',
    `export PATH=${shq([...s.path, '/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'].join(':'))}`,
    ...Object.entries(s.env).map(([k, v]) => `export ${k}=${shq(v)}`),
    `OUT=${shq(s.outDir)}`,
    'LAB="$OUT/.lab"',
    'mkdir -p "$OUT/ground-truth"',
    `cd ${shq(s.cwd)} 2>/dev/null || cd "$OUT"`,
  ];
  if (s.tty) lines.push(`stty rows ${s.tty.rows} cols ${s.tty.cols} 2>/dev/null`);

  const argvOf = (w: GuestScript['workloads'][number]): string =>
    w.argv
      .map((a) => (a === GROUND_TRUTH ? `"$OUT/ground-truth/${w.name}$sfx.json"` : a === HELD ? `"$LAB/held-${w.name}"` : a === GO ? '"$LAB/go"' : shq(a)))
      .join(' ');
  const runLine = (w: GuestScript['workloads'][number]): string[] => [
    `  ${argvOf(w)} >"$LAB/workload-${w.name}$sfx.log" 2>&1`,
    `  echo $? >"$LAB/workload-${w.name}$sfx.rc"`,
  ];
  const early = s.workloads.filter((w) => w.early);
  lines.push('', '# $1: the run number; runs after the first get a suffix.', 'run_workloads() {', '  sfx=', '  [ "$1" -gt 1 ] && sfx=".$1"');
  for (const w of s.workloads.filter((x) => !x.early)) lines.push(...runLine(w));
  lines.push('  :', '}', '');

  // Early workloads: started now, before the command; each says when it is set up.
  const startEarly: string[] = [];
  for (const w of early) {
    startEarly.push(
      `(sfx=; ${runLine(w).map((l) => l.trim()).join('; ')}) &`,
      `early_${w.name}=$!`,
      `i=0; while [ ! -e "$LAB/held-${w.name}" ] && kill -0 $early_${w.name} 2>/dev/null && [ $i -lt 3000 ]; do sleep 0.1; i=$((i+1)); done`,
    );
  }
  // Where the workloads run: the early ones go on, the others start, all are waited for.
  const go = (loop = 'run_workloads 1'): string[] => [
    ...(early.length ? ['touch "$LAB/go"'] : []),
    loop,
    ...early.map((w) => `wait $early_${w.name}`),
  ];
  if (early.length) lines.push('rm -f "$LAB/go"', ...startEarly);

  const redirect = s.interactive ? '' : ' >"$LAB/stdout" 2>"$LAB/stderr"';
  const cmd = s.command ? s.command.map(shq).join(' ') + redirect : null;
  const waitReady = (pid: string): string[] => {
    const out: string[] = [];
    if (s.readyPattern && !s.interactive) {
      out.push(
        `i=0; while [ $i -lt ${Math.ceil(s.readyTimeoutMs / 100)} ] && kill -0 ${pid} 2>/dev/null; do`,
        `  grep -Eq ${shq(s.readyPattern)} "$LAB/stdout" "$LAB/stderr" 2>/dev/null && break`,
        '  sleep 0.1; i=$((i+1))',
        'done',
      );
    }
    if (s.readyDelayMs > 0) out.push(`sleep ${secs(s.readyDelayMs)}`);
    return out;
  };

  if (!cmd) {
    lines.push(...go(), 'echo 0 >"$LAB/exit-code"');
  } else if (s.schedule === 'before') {
    lines.push(...go(), cmd, 'echo $? >"$LAB/exit-code"');
  } else if (s.schedule === 'around') {
    // Job control gives the command its own process group and keeps SIGINT deliverable.
    lines.push('set -m', `${cmd} &`, 'cmd=$!', ...waitReady('$cmd'), ...go(), `kill -${s.stopSignal} $cmd 2>/dev/null`, 'wait $cmd', 'echo $? >"$LAB/exit-code"');
  } else {
    const loop = s.repeat ? 'n=1; while :; do run_workloads $n; n=$((n+1)); sleep 1; done' : 'run_workloads 1';
    lines.push('(', ...waitReady('$$'), ...go(loop), ') &', 'wl=$!', cmd, 'rc=$?');
    lines.push(s.repeat ? 'kill $wl 2>/dev/null' : 'wait $wl', 'echo $rc >"$LAB/exit-code"');
  }
  lines.push('sync', '');
  return lines.join('\n');
}
