// The workload for probe.overhead_ns: prints its pid, waits for a line on stdin,
// then makes N getppid() calls and prints the nanoseconds per call.
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 2000000;
  char line[16];
  printf("%d\n", getpid());
  fflush(stdout);
  if (!fgets(line, sizeof(line), stdin)) return 1;
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (long i = 0; i < n; i++) getppid();
  clock_gettime(CLOCK_MONOTONIC, &b);
  printf("%.2f\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n);
  return 0;
}
