/**
 * The VM a VMM process runs, from its command line (argv as /proc/PID/cmdline
 * holds it). Pure: no I/O.
 */

/** The basename of argv[0]. */
function program(argv: string[]): string {
  const a0 = argv[0] ?? '';
  return a0.slice(a0.lastIndexOf('/') + 1);
}

/**
 * QEMU's option syntax (util/qemu-option.c): `key=value` pairs split at commas,
 * a doubled comma standing for one inside a value. `implied` names the key of a
 * first element without `=` (for -name, `guest`). Later keys override earlier ones.
 */
export function parseQemuOpts(text: string, implied?: string): Map<string, string> {
  const out = new Map<string, string>();
  let i = 0;
  let first = true;
  while (i < text.length) {
    // A key ends at '=' or ',' (keys never hold escaped commas).
    let j = i;
    while (j < text.length && text[j] !== '=' && text[j] !== ',') j++;
    let key: string;
    let value = '';
    const hasValue = text[j] === '=';
    if (hasValue || (first && implied)) {
      key = hasValue ? text.slice(i, j) : implied!;
      // The value runs to the first single comma; ",," is a literal comma.
      let k = hasValue ? j + 1 : i;
      for (; k < text.length; k++) {
        if (text[k] !== ',') value += text[k];
        else if (text[k + 1] === ',') value += ',', k++;
        else break;
      }
      i = k + 1;
    } else {
      // A bare flag: "key" means on, "nokey" off.
      key = text.slice(i, j);
      value = 'on';
      i = j + 1;
    }
    first = false;
    if (key) out.set(key, value);
  }
  return out;
}

/** The value following `name` (`name VALUE` or `name=VALUE`), last occurrence wins. */
function lastOption(argv: string[], names: string[]): string | undefined {
  let found: string | undefined;
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i];
    if (names.includes(a) && i + 1 < argv.length) found = argv[++i];
    else for (const n of names) if (a.startsWith(n + '=')) found = a.slice(n.length + 1);
  }
  return found;
}

function qemuName(argv: string[]): string | null {
  // QEMU takes -opt and --opt alike; -name is a merged list, so the last guest= wins.
  let name: string | null = null;
  for (let i = 1; i < argv.length - 1; i++) {
    if (argv[i] !== '-name' && argv[i] !== '--name') continue;
    const guest = parseQemuOpts(argv[++i], 'guest').get('guest');
    if (guest) name = guest;
  }
  return name;
}

/** Firecracker's placeholder when `--id` is not given: no name. */
const FIRECRACKER_DEFAULT_ID = 'anonymous-instance';

/**
 * The VM's name when argv is a VMM that names it; null otherwise.
 * - QEMU (`qemu-system-*`, `qemu-kvm`, `kvm`): `-name guest=NAME,...` or `-name NAME,...`
 *   (libvirt and KubeVirt start it the first way).
 * - Firecracker (and its jailer): `--id ID`, the microVM's identifier.
 * - cloud-hypervisor: its command line has no VM name (only sockets, kernel, disks,
 *   and an optional platform uuid), so its VMs stay unnamed here.
 */
export function vmName(argv: string[]): string | null {
  const prog = program(argv);
  if (/^qemu-system-|^qemu-kvm$|^kvm$/.test(prog)) return qemuName(argv);
  if (prog === 'firecracker' || prog === 'jailer') {
    const id = lastOption(argv, ['--id']);
    return id && id !== FIRECRACKER_DEFAULT_ID ? id : null;
  }
  return null;
}

/** /proc/PID/cmdline as argv (NUL-separated, NUL-terminated). */
export function splitCmdline(raw: string): string[] {
  const parts = raw.split('\0');
  if (parts.length && parts[parts.length - 1] === '') parts.pop();
  return parts;
}

/**
 * The cgroup v2 path from /proc/PID/cgroup (the `0::/path` line), verbatim:
 * systemd machine scopes and Kubernetes pod paths name the VM or pod. Null on a
 * v1-only host or when the file is empty.
 */
export function cgroupPath(text: string): string | null {
  for (const line of text.split('\n')) if (line.startsWith('0::')) return line.slice(3) || null;
  return null;
}
