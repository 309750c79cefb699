/*
 * vfio workload: a VFIO type1 container on the IOMMU group of one PCI device
 * (bound to vfio-pci beforehand), N rounds of MAP_DMA + UNMAP_DMA of S MiB of
 * anonymous memory at a fixed IOVA, then close.
 *
 *   vfio --device 0000:00:03.0 --rounds N --size-mib S --out FILE
 *
 * With --premap P --held FILE --go FILE (a VM that was running before the tool):
 * P regions of S MiB are mapped first, FILE --held is created, and the workload
 * waits for FILE --go; then N more regions are mapped and kept, and all P + N are
 * unmapped before close. The ground truth counts what happened after --go.
 *
 * --size-kib K instead of --size-mib: K KiB regions (the per-call benchmark maps
 * one page a round, so every round makes the same calls). The truth's loop_ns is
 * the time of the map/unmap rounds alone.
 *
 * With --hugetlb (S a multiple of 2): the memory is 2 MiB huge pages (MAP_HUGETLB),
 * so type1 pins and maps it in runs of whole huge pages (workload "hugetlb").
 */
#include "vfio-container.h"

#define IOVA 0x100000000ull

static void map_region(int container, void *buf, uint64_t iova, uint64_t size)
{
	errno = vfio_try_map(container, buf, iova, size);
	if (errno)
		die("VFIO_IOMMU_MAP_DMA at 0x%llx", (unsigned long long)iova);
}

static uint64_t unmap_region(int container, uint64_t iova, uint64_t size)
{
	struct vfio_iommu_type1_dma_unmap unmap = { .argsz = sizeof(unmap), .iova = iova, .size = size };

	if (ioctl(container, VFIO_IOMMU_UNMAP_DMA, &unmap))
		die("VFIO_IOMMU_UNMAP_DMA at 0x%llx", (unsigned long long)iova);
	return unmap.size;
}

#define HUGE_PAGE (2ull << 20)

/* size bytes of 2 MiB huge pages, touched. */
static void *huge_pages(uint64_t size)
{
	void *buf;

	reserve_huge_pages(size / HUGE_PAGE);
	buf = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	if (buf == MAP_FAILED)
		die("mmap %llu bytes of huge pages", (unsigned long long)size);
	memset(buf, 0x5a, size);
	return buf;
}

/* Creates `held`, then waits (up to 10 minutes) until `go` exists. */
static void hold(const char *held, const char *go)
{
	FILE *f = fopen(held, "w");

	if (!f || fclose(f))
		die("cannot create %s", held);
	for (int i = 0; i < 6000 && access(go, F_OK); i++)
		usleep(100000);
	if (access(go, F_OK))
		die("%s never appeared", go);
}

int main(int argc, char **argv)
{
	const char *bdf, *out, *held, *go;
	long rounds, size_mib, size_kib, premap, huge;
	int container, group_fd, group;
	uint64_t size, start = mono_ns(), mapped = 0, unmapped = 0, loop_start, loop_ns;
	void *buf;

	workload_name = "vfio";
	bdf = arg_str(argc, argv, "--device", "0000:00:03.0");
	rounds = arg_long(argc, argv, "--rounds", 10);
	size_mib = arg_long(argc, argv, "--size-mib", 2);
	size_kib = arg_long(argc, argv, "--size-kib", 0);
	out = arg_str(argc, argv, "--out", NULL);
	premap = arg_long(argc, argv, "--premap", 0);
	held = arg_str(argc, argv, "--held", NULL);
	go = arg_str(argc, argv, "--go", NULL);
	huge = arg_long(argc, argv, "--hugetlb", 0);
	if (!out)
		die("--out FILE is required");
	if (premap && (!held || !go))
		die("--premap needs --held FILE and --go FILE");
	if (premap)
		workload_name = "premap";
	size = size_kib ? (uint64_t)size_kib << 10 : (uint64_t)size_mib << 20;
	if (size % 4096)
		die("the size must be whole pages");
	if (huge) {
		workload_name = "hugetlb";
		if (premap || size % HUGE_PAGE)
			die("--hugetlb takes whole 2 MiB pages and no --premap");
	}

	/* Attaches the group to a new IOMMU domain. */
	container = vfio_container_open(bdf, &group_fd, &group);

	if (premap) {
		/* Distinct regions, each its own memory, all kept until the end. */
		for (long i = 0; i < premap; i++)
			map_region(container, anon(size), IOVA + i * size, size);
		hold(held, go);
		start = loop_start = mono_ns();
		for (long i = premap; i < premap + rounds; i++) {
			map_region(container, anon(size), IOVA + i * size, size);
			mapped += size;
		}
		for (long i = 0; i < premap + rounds; i++)
			unmapped += unmap_region(container, IOVA + i * size, size);
	} else {
		buf = huge ? huge_pages(size) : anon(size);
		loop_start = mono_ns();
		for (long i = 0; i < rounds; i++) {
			map_region(container, buf, IOVA, size);
			mapped += size;
			unmapped += unmap_region(container, IOVA, size);
		}
	}
	loop_ns = mono_ns() - loop_start;
	/* Closing the last fds detaches the group and frees the domain. */
	close(group_fd);
	close(container);

	FILE *f = truth_open(out, start);
	fprintf(f, ",\n  \"device\": \"%s\",\n  \"group\": %d,\n  \"rounds\": %ld,\n  \"size_bytes\": %llu,\n"
		   "  \"iova\": %llu,\n  \"map_ioctls\": %ld,\n  \"unmap_ioctls\": %ld,\n"
		   "  \"mapped_bytes\": %llu,\n  \"unmapped_bytes\": %llu,\n"
		   "  \"pinned_pages\": %llu,\n  \"unpinned_pages\": %llu,\n  \"attaches\": %d,\n  \"detaches\": 1,\n"
		   "  \"premapped_bytes\": %llu,\n  \"loop_ns\": %llu",
		bdf, group, rounds, (unsigned long long)size, IOVA, rounds, premap ? premap + rounds : rounds,
		(unsigned long long)mapped, (unsigned long long)unmapped,
		(unsigned long long)(mapped / 4096), (unsigned long long)(unmapped / 4096), premap ? 0 : 1,
		(unsigned long long)(premap * size), (unsigned long long)loop_ns);
	truth_close(f);
	return 0;
}
