import { Details } from './panel';

export const HELP: Details = {
  title: 'iommutop keys',
  body: [
    'q, Ctrl-C    quit (the terminal is restored)',
    'p            pause: freeze the numbers (a replay stops too; live events keep being counted)',
    's / S        sort the focused table by the next column / reverse the order',
    '/            filter devices, groups and the event log by text; enter keeps it, esc clears it',
    'tab          move the focus: devices, latency, rates, group references, event log (shift-tab back)',
    'up/down      move the selection; in the latency panel, pick the device or probe shown;',
    '             in the rates panel, the series charted',
    'enter        details of the selection: a device, a group, a reference and its stack, the log',
    'r            reset: start every count, rate and the event log over',
    'u            the probes: which are attached, and why each unavailable one is not',
    '?            this help',
    '',
    'Header: probes attached/unavailable, events per second, events lost by the kernel (red',
    'when any: counts are then lower bounds) and the CPU iommutop itself uses.',
    'Rates and latencies are in event time: a replay at --speed 10 shows the rates the capture saw.',
    'A reference older than the leak age is "held" when a known long-lived holder took it',
    '(a VFIO group, an iommufd device), else "LEAKED", with the function that took it.',
    'Esc, q or enter closes this window.',
  ].join('\n'),
};
