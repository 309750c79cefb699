// The reference for ringbuf.delivery: a C libbpf consumer of the same producer
// (selftest_getppid in build/bpf/iommutrace.bpf.o) that only counts records.
// Usage: consumer OBJECT BURST SECONDS -> prints "events=N lost=L seconds=S".
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static atomic_int stop;
static unsigned long long received;

static int count(void *ctx, void *data, size_t len) {
  received++;
  return 0;
}

static void *produce(void *arg) {
  while (!atomic_load(&stop)) getppid();
  return NULL;
}

static int set_const(struct bpf_object *obj, const char *name, unsigned int value) {
  struct bpf_map *rodata = bpf_object__find_map_by_name(obj, ".rodata");
  struct btf *btf = bpf_object__btf(obj);
  size_t size;
  char *data = (char *)bpf_map__initial_value(rodata, &size);
  int sec = btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC);
  const struct btf_type *t = btf__type_by_id(btf, sec);
  const struct btf_var_secinfo *v = btf_var_secinfos(t);
  for (int i = 0; i < btf_vlen(t); i++, v++) {
    const struct btf_type *var = btf__type_by_id(btf, v->type);
    if (strcmp(btf__name_by_offset(btf, var->name_off), name) == 0) {
      memcpy(data + v->offset, &value, v->size < 4 ? v->size : 4);
      return 0;
    }
  }
  return -1;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc != 4) return 2;
  struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
  if (!obj) return 1;
  struct bpf_program *p;
  bpf_object__for_each_program(p, obj) bpf_program__set_autoload(p, strcmp(bpf_program__name(p), "selftest_getppid") == 0);
  if (set_const(obj, "it_cfg_target_tgid", getpid()) || set_const(obj, "it_cfg_selftest_burst", atoi(argv[2]))) return 1;
  bpf_map__set_max_entries(bpf_object__find_map_by_name(obj, "it_events"), 16 << 20);
  if (bpf_object__load(obj)) return 1;
  struct bpf_link *link = bpf_program__attach(bpf_object__find_program_by_name(obj, "selftest_getppid"));
  if (!link) return 1;
  struct ring_buffer *rb = ring_buffer__new(bpf_map__fd(bpf_object__find_map_by_name(obj, "it_events")), count, NULL, NULL);
  pthread_t t;
  double start = now(), seconds = atof(argv[3]);
  pthread_create(&t, NULL, produce, NULL);
  while (now() - start < seconds) ring_buffer__poll(rb, 100);
  atomic_store(&stop, 1);
  pthread_join(t, NULL);
  double elapsed = now() - start;
  ring_buffer__consume(rb);
  unsigned long long lost = 0;
  int fd = bpf_map__fd(bpf_object__find_map_by_name(obj, "it_counters"));
  int ncpu = libbpf_num_possible_cpus();
  unsigned long long vals[ncpu];
  unsigned int key = 0;
  if (bpf_map_lookup_elem(fd, &key, vals) == 0)
    for (int i = 0; i < ncpu; i++) lost += vals[i];
  printf("events=%llu lost=%llu seconds=%.3f\n", received, lost, elapsed);
  ring_buffer__free(rb);
  bpf_link__destroy(link);
  bpf_object__close(obj);
  return 0;
}
