const NAMES: Record<number, string> = {
  1: 'EPERM', 2: 'ENOENT', 4: 'EINTR', 5: 'EIO', 11: 'EAGAIN', 12: 'ENOMEM', 13: 'EACCES', 14: 'EFAULT',
  16: 'EBUSY', 17: 'EEXIST', 19: 'ENODEV', 22: 'EINVAL', 27: 'EFBIG', 28: 'ENOSPC', 34: 'ERANGE',
  95: 'EOPNOTSUPP', 524: 'ENOTSUPP',
};

/** "EFAULT" for -14 or 14; "E123" for what we do not name. */
export function errnoName(err: number): string {
  const n = Math.abs(err);
  return NAMES[n] ?? `E${n}`;
}
