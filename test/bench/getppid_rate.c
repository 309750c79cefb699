// The selftest producer for agent.cpu_percent: getppid() at a steady RATE per
// second (a slice every millisecond, against absolute deadlines so sleeping late
// does not lower the rate) until killed. Prints the calls made per second once
// a second, so the harness can check the rate was held.
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
  long rate = argc > 1 ? atol(argv[1]) : 100000;
  struct timespec next;
  clock_gettime(CLOCK_MONOTONIC, &next);
  long tick = 0, made = 0;
  for (;;) {
    // Calls owed by the end of this millisecond, spread evenly over the second.
    long owed = rate * (tick % 1000 + 1) / 1000 - rate * (tick % 1000) / 1000;
    for (long i = 0; i < owed; i++) getppid();
    made += owed;
    tick++;
    next.tv_nsec += 1000000;
    if (next.tv_nsec >= 1000000000) {
      next.tv_nsec -= 1000000000;
      next.tv_sec++;
    }
    if (tick % 1000 == 0) {
      printf("%ld\n", made);
      fflush(stdout);
      made = 0;
    }
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
  }
}
