/*
 * gup workload: pins user pages through the paths that use get/pin_user_pages,
 * with page counts known in advance.
 *   - io_uring IORING_REGISTER_BUFFERS of prefaulted buffers (page tables populated,
 *     so the fast, lockless walk can take them) and of never-touched buffers (it
 *     cannot: every page faults in on the slow path), then unregistration, which unpins;
 *   - the same with one buffer backed by a 2 MiB huge page;
 *   - O_DIRECT reads from a RAM disk into a prefaulted buffer (the block layer pins
 *     the destination pages for each read).
 *
 *   gup --disk /dev/ram0 --out FILE
 */
#include "common.h"
#include <fcntl.h>
#include <linux/io_uring.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#define PAGE 4096ul
#define HUGE (2ul << 20)

enum { WARM_BUFFERS = 4, WARM_PAGES = 16, COLD_BUFFERS = 2, COLD_PAGES = 8, READS = 8, READ_PAGES = 4 };

static void *map_anon(size_t len, int extra_flags, int touch)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | extra_flags, -1, 0);

	if (p == MAP_FAILED)
		die("mmap %zu bytes", len);
	if (touch)
		memset(p, 0x3c, len);
	return p;
}

/* One ring, one IORING_REGISTER_BUFFERS of all iovecs, one unregister. */
static void register_buffers(struct iovec *iov, unsigned n)
{
	struct io_uring_params params = { 0 };
	int ring = syscall(__NR_io_uring_setup, 4, &params);

	if (ring < 0)
		die("io_uring_setup");
	if (syscall(__NR_io_uring_register, ring, IORING_REGISTER_BUFFERS, iov, n))
		die("IORING_REGISTER_BUFFERS");
	if (syscall(__NR_io_uring_register, ring, IORING_UNREGISTER_BUFFERS, NULL, 0))
		die("IORING_UNREGISTER_BUFFERS");
	close(ring);
}

int main(int argc, char **argv)
{
	const char *out, *disk;
	struct iovec warm[WARM_BUFFERS], cold[COLD_BUFFERS], huge;
	uint64_t start = mono_ns();
	char *dst;
	int fd;

	workload_name = "gup";
	disk = arg_str(argc, argv, "--disk", "/dev/ram0");
	out = arg_str(argc, argv, "--out", NULL);
	if (!out)
		die("--out FILE is required");

	for (int i = 0; i < WARM_BUFFERS; i++)
		warm[i] = (struct iovec){ map_anon(WARM_PAGES * PAGE, 0, 1), WARM_PAGES * PAGE };
	for (int i = 0; i < COLD_BUFFERS; i++)
		cold[i] = (struct iovec){ map_anon(COLD_PAGES * PAGE, 0, 0), COLD_PAGES * PAGE };
	reserve_huge_pages(1);
	huge = (struct iovec){ map_anon(HUGE, MAP_HUGETLB, 1), HUGE };

	register_buffers(warm, WARM_BUFFERS);
	register_buffers(cold, COLD_BUFFERS);
	register_buffers(&huge, 1);

	fd = open(disk, O_RDONLY | O_DIRECT);
	if (fd < 0)
		die("open %s with O_DIRECT", disk);
	dst = map_anon(READ_PAGES * PAGE, 0, 1);
	for (int i = 0; i < READS; i++)
		if (pread(fd, dst, READ_PAGES * PAGE, (off_t)i * READ_PAGES * PAGE) != (ssize_t)(READ_PAGES * PAGE))
			die("O_DIRECT read %d from %s", i, disk);
	close(fd);

	unsigned long warm_pages = WARM_BUFFERS * WARM_PAGES, cold_pages = COLD_BUFFERS * COLD_PAGES;
	unsigned long huge_pages = HUGE / PAGE, read_pages = READS * READ_PAGES;
	FILE *f = truth_open(out, start);
	fprintf(f, ",\n  \"io_uring\": { \"registrations\": 3, \"buffers\": %d, \"pages\": %lu },\n"
		   "  \"io_uring_prefaulted\": { \"buffers\": %d, \"pages_per_buffer\": %d, \"pages\": %lu },\n"
		   "  \"io_uring_untouched\": { \"buffers\": %d, \"pages_per_buffer\": %d, \"pages\": %lu },\n"
		   "  \"io_uring_hugetlb\": { \"buffers\": 1, \"huge_page_bytes\": %lu, \"pages\": %lu },\n"
		   "  \"o_direct\": { \"disk\": \"%s\", \"reads\": %d, \"pages_per_read\": %d, \"pages\": %lu },\n"
		   "  \"pinned_pages\": %lu,\n  \"unpinned_pages_io_uring\": %lu",
		WARM_BUFFERS + COLD_BUFFERS + 1, warm_pages + cold_pages + huge_pages, WARM_BUFFERS, WARM_PAGES,
		warm_pages, COLD_BUFFERS, COLD_PAGES, cold_pages, HUGE, huge_pages, disk, READS, READ_PAGES,
		read_pages, warm_pages + cold_pages + huge_pages + read_pages, warm_pages + cold_pages + huge_pages);
	truth_close(f);
	return 0;
}
