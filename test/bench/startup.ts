/**
 * startup.attach_ms, our side: from process start to the selftest probe attached
 * and its first event received in JavaScript, through the same planner, session
 * and ring buffer the commands use. Prints the milliseconds.
 */
import { performance } from 'node:perf_hooks';
import { forEachRecord, RingBuffer } from '../../src/loader';
import { CATALOGUE } from '../../src/probes/catalogue';
import { LiveKernel } from '../../src/probes/kernel-live';
import { ProbeSession } from '../../src/probes/session';

async function main(): Promise<void> {
  const kernel = new LiveKernel();
  const session = await ProbeSession.start(kernel, CATALOGUE, { select: (n) => n === 'selftest.getppid' });
  await new Promise<void>((resolve) => {
    const ring = new RingBuffer(session.object.map('it_events'), (batch) =>
      forEachRecord(batch, () => {
        ring.close();
        resolve();
      }),
    );
  });
  // performance.now() counts from the process's start.
  console.log(performance.now().toFixed(1));
  session.close();
  kernel.close();
}

void main();
