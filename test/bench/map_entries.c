// Counts the keys of a BPF map (by id) every PERIOD ms, printing "<CLOCK_MONOTONIC ms> <keys>"
// per sample until killed: it_agg's use seen from outside the agent, whose own reads
// (and so its deletes) it must not add to.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  int fd = bpf_map_get_fd_by_id(atoi(argv[1]));
  long period = argc > 2 ? atol(argv[2]) : 100;
  if (fd < 0) {
    perror("bpf_map_get_fd_by_id");
    return 1;
  }
  struct bpf_map_info info = {};
  __u32 len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &len)) return 1;
  // Batched lookups walk the hash bucket by bucket: a key deleted meanwhile is not
  // counted twice, as a get_next_key walk restarting from the first key would.
  int ncpus = libbpf_num_possible_cpus();
  __u32 vsize = (info.value_size + 7) / 8 * 8 * (ncpus > 0 ? ncpus : 1);
  __u32 room = info.max_entries + 256;
  char *keys = malloc((size_t)room * info.key_size), *values = malloc((size_t)room * vsize);
  __u64 batch;
  struct timespec t;
  for (;;) {
    long n = 0;
    int first = 1;
    for (;;) {
      __u32 count = room - (n < room ? n : room);
      if (count == 0) break;
      int err = bpf_map_lookup_batch(fd, first ? NULL : &batch, &batch, keys, values, &count, NULL);
      first = 0;
      n += count;
      if (err) break; // ENOENT: the walk is done
    }
    long keys_now = n;
    clock_gettime(CLOCK_MONOTONIC, &t);
    printf("%ld %ld\n", t.tv_sec * 1000 + t.tv_nsec / 1000000, keys_now);
    fflush(stdout);
    usleep(period * 1000);
  }
}
