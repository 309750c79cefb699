/*
 * mapfail workload: VFIO type1 MAP_DMA requests the kernel refuses, and why.
 *
 *   mapfail --mode entrylimit --device BDF --limit L --extra K --out FILE
 *     sets vfio_iommu_type1's dma_entry_limit to L (read when a container is
 *     opened), maps L + K one-page regions: the last K fail with ENOSPC. The old
 *     value is put back at exit: until then the parameter is the container's limit,
 *     which is what the tool reads at a refusal.
 *   mapfail --mode memlock --device BDF --limit-kib L --sizes-kib A,B,... --out FILE
 *     drops CAP_IPC_LOCK from its effective set, sets RLIMIT_MEMLOCK to L KiB and
 *     maps one region of each size in turn: exactly those that would take the
 *     pages it has locked past the limit fail with ENOMEM.
 *   mapfail --mode memlock-iommufd ...
 *     the same through the device's cdev bound to iommufd (IOMMU_IOAS_MAP), which
 *     counts the pins against the user's locked memory (iommufd kernel only).
 *
 * The ground truth lists every request with its errno and, for memlock, the
 * bytes the process had locked before it (the sum of what it mapped so far).
 */
#include "vfio-container.h"
#include "iommufd-device.h"
#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#define IOVA 0x100000000ull
#define PAGE 4096ull
#define MAX_MAPS 256
#define LIMIT_PARAM "/sys/module/vfio_iommu_type1/parameters/dma_entry_limit"

struct request {
	uint64_t size;
	uint64_t locked_before;
	int err;
};

static struct request reqs[MAX_MAPS];

static long read_param(void)
{
	FILE *f = fopen(LIMIT_PARAM, "r");
	long v;

	if (!f || fscanf(f, "%ld", &v) != 1)
		die("read %s", LIMIT_PARAM);
	fclose(f);
	return v;
}

static long param_before = -1;

static void write_param(long v)
{
	FILE *f = fopen(LIMIT_PARAM, "w");

	if (!f || fprintf(f, "%ld\n", v) < 0 || fclose(f))
		die("write %s", LIMIT_PARAM);
}

static void restore_param(void)
{
	if (param_before >= 0)
		write_param(param_before);
}

/* Clears CAP_IPC_LOCK from the effective set (the permitted set keeps it). */
static void drop_ipc_lock(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d))
		die("capget");
	d[CAP_IPC_LOCK / 32].effective &= ~(1u << (CAP_IPC_LOCK % 32));
	if (syscall(SYS_capset, &h, d))
		die("capset");
}

/* Comma-separated KiB sizes into reqs[]; returns how many. */
static int parse_sizes(const char *s)
{
	int n = 0;
	char *end;

	while (*s) {
		if (n == MAX_MAPS)
			die("more than %d sizes", MAX_MAPS);
		reqs[n++].size = strtoull(s, &end, 10) << 10;
		if (end == s || (*end && *end != ','))
			die("bad --sizes-kib");
		s = *end ? end + 1 : end;
	}
	return n;
}

int main(int argc, char **argv)
{
	const char *bdf, *out, *mode;
	int container = -1, group_fd = -1, group, n, failed = 0, iommufd = -1, iommufd_mode;
	__u32 ioas_id = 0;
	char cdev[300];
	long limit = 0, extra = 0, old = 0, limit_kib = 0;
	uint64_t start = mono_ns(), iova = IOVA, locked = 0, failed_bytes = 0;
	struct rlimit rl;

	mode = arg_str(argc, argv, "--mode", "");
	iommufd_mode = 0;
	workload_name = mode;
	bdf = arg_str(argc, argv, "--device", "0000:00:03.0");
	out = arg_str(argc, argv, "--out", NULL);
	if (!out)
		die("--out FILE is required");
	if (!strcmp(mode, "entrylimit")) {
		limit = arg_long(argc, argv, "--limit", 8);
		extra = arg_long(argc, argv, "--extra", 3);
		if (!limit || limit + extra > MAX_MAPS)
			die("--limit must be 1..%d with --extra", MAX_MAPS);
		n = limit + extra;
		for (int i = 0; i < n; i++)
			reqs[i].size = PAGE;
		old = param_before = read_param();
		atexit(restore_param);
		write_param(limit);
		container = vfio_container_open(bdf, &group_fd, &group);
	} else if (!strcmp(mode, "memlock") || (iommufd_mode = !strcmp(mode, "memlock-iommufd"))) {
		limit_kib = arg_long(argc, argv, "--limit-kib", 4096);
		n = parse_sizes(arg_str(argc, argv, "--sizes-kib", "3072,3072,1024,2048"));
		drop_ipc_lock();
		rl.rlim_cur = rl.rlim_max = (rlim_t)limit_kib << 10;
		if (setrlimit(RLIMIT_MEMLOCK, &rl))
			die("setrlimit RLIMIT_MEMLOCK");
		if (iommufd_mode) {
			/* group_fd holds the device's cdev here. */
			ioas_id = iommufd_device_open(bdf, cdev, sizeof(cdev), &group_fd, &iommufd);
			group = pci_group(bdf);
		} else {
			container = vfio_container_open(bdf, &group_fd, &group);
		}
	} else {
		die("--mode entrylimit, memlock or memlock-iommufd");
	}
	start = mono_ns();
	for (int i = 0; i < n; i++) {
		/* Its own memory each: nothing is pinned twice. */
		reqs[i].locked_before = locked;
		void *buf = anon(reqs[i].size);

		reqs[i].err = iommufd_mode ? ioas_try_map(iommufd, ioas_id, buf, iova, reqs[i].size)
					   : vfio_try_map(container, buf, iova, reqs[i].size);
		iova += reqs[i].size;
		if (reqs[i].err) {
			failed++;
			failed_bytes += reqs[i].size;
		} else {
			locked += reqs[i].size;
		}
	}
	/* Closing the container (or the iommufd) unmaps and unpins what was mapped. */
	close(group_fd);
	close(iommufd_mode ? iommufd : container);

	FILE *f = truth_open(out, start);
	fprintf(f, ",\n  \"device\": \"%s\",\n  \"group\": %d,\n  \"maps\": %d,\n  \"failed\": %d,\n"
		   "  \"failed_bytes\": %llu,\n  \"dma_entry_limit\": %ld,\n  \"dma_entry_limit_before\": %ld,\n"
		   "  \"limit_bytes\": %llu,\n  \"requests\": [",
		bdf, group, n, failed, (unsigned long long)failed_bytes, limit, old,
		(unsigned long long)limit_kib << 10);
	for (int i = 0; i < n; i++)
		fprintf(f, "%s\n    { \"size\": %llu, \"locked_before\": %llu, \"errno\": %d }", i ? "," : "",
			(unsigned long long)reqs[i].size, (unsigned long long)reqs[i].locked_before, reqs[i].err);
	fprintf(f, "\n  ]");
	truth_close(f);
	return 0;
}
