/*
 * dirty workload (iommufd-6.12 kernel only): iommufd's mock domain with dirty
 * tracking. Maps M MiB at the mock aperture, then W times marks every 8th mock
 * page dirty (IOMMU_TEST_OP_DIRTY) and reads the bitmap back with
 * IOMMU_HWPT_GET_DIRTY_BITMAP: each read is one iova_bitmap_for_each() walk.
 * Needs CONFIG_IOMMUFD_TEST and no other IOMMU driver (boot without intel-iommu).
 *
 *   dirty --walks W --map-mib M --out FILE
 */
#include "common.h"
#include "iommufd-uapi.h"
#include <fcntl.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

/*
 * From drivers/iommu/iommufd/iommufd_test.h of the same tree. The union keeps
 * only the members used here; `dirty` is its largest, so `last` stays at the
 * offset the kernel checks.
 */
#define IOMMU_TEST_CMD _IO(IOMMUFD_TYPE, 0x80 + 32)
#define IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE 10
#define IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS 12
#define IOMMU_TEST_OP_DIRTY 13
#define MOCK_APERTURE_START (1ul << 24)
/* MOCK_IO_PAGE_SIZE in selftest.c: the mock domain's page is half a CPU page. */
#define MOCK_PAGE_SIZE 2048

struct iommu_test_cmd {
	__u32 size;
	__u32 op;
	__u32 id;
	__u32 __reserved;
	union {
		struct {
			__u32 out_stdev_id;
			__u32 out_hwpt_id;
			__u32 out_idev_id;
			__u32 dev_flags;
		} mock_domain_flags;
		struct {
			__u32 pt_id;
		} mock_domain_replace;
		struct {
			__u32 flags;
			__aligned_u64 iova;
			__aligned_u64 length;
			__aligned_u64 page_size;
			__aligned_u64 uptr;
			__aligned_u64 out_nr_dirty;
		} dirty;
	};
	__u32 last;
};
_Static_assert(offsetof(struct iommu_test_cmd, last) == 64, "iommu_test_cmd layout");

static void xioctl(int fd, unsigned long req, void *arg, const char *what)
{
	if (ioctl(fd, req, arg))
		die("%s", what);
}

int main(int argc, char **argv)
{
	long walks, map_mib;
	const char *out;
	uint64_t start = mono_ns(), length, mock_pages, marked = 0, read_back = 0;
	unsigned char *mark, *bitmap;
	size_t bitmap_bytes;
	void *buf;
	int fd;

	workload_name = "dirty";
	walks = arg_long(argc, argv, "--walks", 5);
	map_mib = arg_long(argc, argv, "--map-mib", 4);
	out = arg_str(argc, argv, "--out", NULL);
	if (!out)
		die("--out FILE is required");
	length = (uint64_t)map_mib << 20;
	mock_pages = length / MOCK_PAGE_SIZE;
	bitmap_bytes = mock_pages / 8;

	fd = open("/dev/iommu", O_RDWR);
	if (fd < 0)
		die("open /dev/iommu (a kernel with CONFIG_IOMMUFD?)");

	struct iommu_ioas_alloc ioas = { .size = sizeof(ioas) };
	xioctl(fd, IOMMU_IOAS_ALLOC, &ioas, "IOMMU_IOAS_ALLOC");

	struct iommu_test_cmd mock = { .size = sizeof(mock), .op = IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS, .id = ioas.out_ioas_id };
	xioctl(fd, IOMMU_TEST_CMD, &mock,
	       "IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS (EINVAL: another IOMMU driver is active, boot without intel-iommu)");

	struct iommu_hwpt_alloc hwpt = {
		.size = sizeof(hwpt),
		.flags = IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
		.dev_id = mock.mock_domain_flags.out_idev_id,
		.pt_id = ioas.out_ioas_id,
	};
	xioctl(fd, IOMMU_HWPT_ALLOC, &hwpt, "IOMMU_HWPT_ALLOC");

	struct iommu_test_cmd replace = {
		.size = sizeof(replace),
		.op = IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE,
		.id = mock.mock_domain_flags.out_stdev_id,
		.mock_domain_replace = { .pt_id = hwpt.out_hwpt_id },
	};
	xioctl(fd, IOMMU_TEST_CMD, &replace, "IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE");

	buf = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		die("mmap");
	memset(buf, 0xa5, length);
	struct iommu_ioas_map map = {
		.size = sizeof(map),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE,
		.ioas_id = ioas.out_ioas_id,
		.user_va = (uintptr_t)buf,
		.length = length,
		.iova = MOCK_APERTURE_START,
	};
	xioctl(fd, IOMMU_IOAS_MAP, &map, "IOMMU_IOAS_MAP");

	struct iommu_hwpt_set_dirty_tracking track = {
		.size = sizeof(track),
		.flags = IOMMU_HWPT_DIRTY_TRACKING_ENABLE,
		.hwpt_id = hwpt.out_hwpt_id,
	};
	xioctl(fd, IOMMU_HWPT_SET_DIRTY_TRACKING, &track, "IOMMU_HWPT_SET_DIRTY_TRACKING");

	/* Page-aligned and within one page each, so each walk pins exactly one bitmap page. */
	if (bitmap_bytes > 4096)
		die("--map-mib too large for a one-page bitmap");
	mark = aligned_alloc(4096, 4096);
	bitmap = aligned_alloc(4096, 4096);
	memset(mark, 0, 4096);
	for (uint64_t i = 0; i < mock_pages; i += 8)
		mark[i / 8] |= 1u << (i % 8);

	for (long w = 0; w < walks; w++) {
		struct iommu_test_cmd dirty = {
			.size = sizeof(dirty),
			.op = IOMMU_TEST_OP_DIRTY,
			.id = hwpt.out_hwpt_id,
			.dirty = { .iova = MOCK_APERTURE_START, .length = length, .page_size = MOCK_PAGE_SIZE, .uptr = (uintptr_t)mark },
		};
		xioctl(fd, IOMMU_TEST_CMD, &dirty, "IOMMU_TEST_OP_DIRTY");
		marked += dirty.dirty.out_nr_dirty;

		memset(bitmap, 0, 4096);
		struct iommu_hwpt_get_dirty_bitmap get = {
			.size = sizeof(get),
			.hwpt_id = hwpt.out_hwpt_id,
			.iova = MOCK_APERTURE_START,
			.length = length,
			.page_size = MOCK_PAGE_SIZE,
			.data = (uintptr_t)bitmap,
		};
		xioctl(fd, IOMMU_HWPT_GET_DIRTY_BITMAP, &get, "IOMMU_HWPT_GET_DIRTY_BITMAP");
		for (size_t i = 0; i < bitmap_bytes; i++)
			read_back += __builtin_popcount(bitmap[i]);
	}
	close(fd);

	FILE *f = truth_open(out, start);
	fprintf(f, ",\n  \"ioas_id\": %u,\n  \"hwpt_id\": %u,\n  \"mock_stdev_id\": %u,\n  \"mock_idev_id\": %u,\n"
		   "  \"iova\": %lu,\n  \"map_bytes\": %llu,\n  \"iommufd_pinned_pages\": %llu,\n"
		   "  \"page_size\": %d,\n  \"walks\": %ld,\n  \"marked_per_walk\": %llu,\n"
		   "  \"dirty_marked\": %llu,\n  \"dirty_read\": %llu,\n  \"bitmap_pages_per_walk\": 1",
		ioas.out_ioas_id, hwpt.out_hwpt_id, mock.mock_domain_flags.out_stdev_id,
		mock.mock_domain_flags.out_idev_id, MOCK_APERTURE_START, (unsigned long long)length,
		(unsigned long long)(length / 4096), MOCK_PAGE_SIZE, walks,
		(unsigned long long)(mock_pages / 8), (unsigned long long)marked, (unsigned long long)read_back);
	truth_close(f);
	if (marked != read_back)
		die("marked %llu dirty pages but read back %llu", (unsigned long long)marked, (unsigned long long)read_back);
	return 0;
}
