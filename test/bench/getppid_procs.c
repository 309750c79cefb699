// The producer for agent.cpu_percent.10k_processes: starts N processes, evenly over
// S seconds; child i makes 1 + i % 5 getppid() calls (a known, uneven total), lingers
// L ms (so thousands live at once and hold it_agg keys) and exits. Prints the truth
// once all are reaped: "processes=N calls=C failed=F peak_live=P seconds=T".
//
// The children are clone(CLONE_VM) processes (each its own tgid, as vfork's are)
// rather than fork()s: a fork costs about 4 ms on the bench's VM (page-table copies
// and faults), 10,000 would take 40 s. MODE "fork" forks anyway. Nothing else in a
// child calls getppid().
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define STACK (16 << 10)

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static long live, failed, calls, linger_ms;
static long *per_pid;

static int child(void *arg) {
  long k = (long)arg;
  for (long j = 0; j < k; j++) getppid();
  struct timespec t = { linger_ms / 1000, (linger_ms % 1000) * 1000000 };
  nanosleep(&t, NULL);
  return 0;
}

static void reap(int options) {
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, options)) > 0) {
    live--;
    // Only a child that ran to its end made all its calls.
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) calls += per_pid[pid];
    else failed++;
  }
}

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 10000;
  double seconds = argc > 2 ? atof(argv[2]) : 4;
  linger_ms = argc > 3 ? atol(argv[3]) : 2000;
  int use_fork = argc > 4 && strcmp(argv[4], "fork") == 0;
  long peak = 0, pid_max = 4 << 20;
  FILE *f = fopen("/proc/sys/kernel/pid_max", "r");
  if (f) {
    if (fscanf(f, "%ld", &pid_max) != 1) pid_max = 4 << 20;
    fclose(f);
  }
  per_pid = calloc(pid_max + 1, sizeof(long));
  // One stack per child (they may all live at once); untouched pages cost nothing.
  char *stacks = use_fork ? NULL : mmap(NULL, (size_t)n * STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (stacks == MAP_FAILED) return 2;
  double start = now();
  for (long i = 0; i < n; i++) {
    // Paced against the start, so a slow start does not lower the rate.
    double due = start + seconds * i / n;
    reap(WNOHANG);
    while (now() < due) {
      reap(WNOHANG);
      usleep(200);
    }
    long k = 1 + i % 5;
    pid_t pid;
    if (use_fork) {
      pid = fork();
      if (pid == 0) _exit(child((void *)k));
    } else {
      pid = clone(child, stacks + (i + 1) * STACK, CLONE_VM | SIGCHLD, (void *)k);
    }
    if (pid < 0) {
      failed++;
      continue;
    }
    per_pid[pid] = k;
    if (++live > peak) peak = live;
  }
  reap(0);
  printf("processes=%ld calls=%ld failed=%ld peak_live=%ld seconds=%.2f\n", n, calls, failed, peak, now() - start);
  return failed ? 1 : 0;
}
