/*
 * fault workload: makes a real device fault. A small VFIO user-space driver for
 * QEMU's e1000e (bound to vfio-pci): BAR0 mmapped through VFIO, bus mastering on,
 * a transmit ring mapped with MAP_DMA, its descriptors pointing at IOVAs the
 * container never mapped. Each tail bump makes the device read one descriptor
 * (mapped) and then its buffer (not mapped): the IOMMU blocks the read and
 * reports a fault. Bumps are spaced (--gap-ms): QEMU's VT-d records only the
 * first of faults that come together.
 *
 *   fault --device 0000:00:03.0 --faults N --gap-ms MS [--late K --late-after-ms MS] --out FILE
 *
 * --late K: after a pause of --late-after-ms (longer than the kernel's 5 s rate-limit
 * interval), K more faults: the first line after the pause tells how many reports
 * the driver's limiter dropped before it.
 *
 * Truth: the IOVAs it pointed at, in order, all device reads; and the kernel's own
 * log of the window (/dev/kmsg), the lines of IOMMU drivers kept as they are.
 */
#include "vfio-container.h"
#include <fcntl.h>
#include <poll.h>

/* e1000e registers (82574 datasheet, the subset QEMU models for transmit). */
#define REG_CTRL 0x0000
#define REG_IMC 0x00d8
#define REG_TCTL 0x0400
#define REG_TDBAL 0x3800
#define REG_TDBAH 0x3804
#define REG_TDLEN 0x3808
#define REG_TDH 0x3810
#define REG_TDT 0x3818
#define CTRL_RST (1u << 26)
#define TCTL_EN (1u << 1)
#define TCTL_PSP (1u << 3)
#define TXD_EOP 0x01
#define TXD_IFCS 0x02
#define TXD_RS 0x08

#define RING_IOVA 0x10000000ull
/*
 * Never mapped, one page per descriptor, below the emulated VT-d's 39-bit address
 * width (0xdead000000 was above it: reason 0x04, beyond MGAW, instead of 0x06, a
 * page-table entry without read access).
 */
#define HOLE_IOVA 0x40000000ull
#define RING_DESCS 64

struct tx_desc {
	uint64_t addr;
	uint16_t length;
	uint8_t cso;
	uint8_t cmd;
	uint8_t status;
	uint8_t css;
	uint16_t special;
};

static volatile uint32_t *bar0;

static void wr(uint32_t reg, uint32_t v)
{
	bar0[reg / 4] = v;
}

static uint32_t rd(uint32_t reg)
{
	return bar0[reg / 4];
}

static void pci_command_set(int dev, uint16_t bits)
{
	struct vfio_region_info cfg = { .argsz = sizeof(cfg), .index = VFIO_PCI_CONFIG_REGION_INDEX };
	uint16_t cmd;

	if (ioctl(dev, VFIO_DEVICE_GET_REGION_INFO, &cfg))
		die("config region info");
	if (pread(dev, &cmd, 2, cfg.offset + 4) != 2)
		die("read PCI command");
	cmd |= bits;
	if (pwrite(dev, &cmd, 2, cfg.offset + 4) != 2)
		die("write PCI command");
}

static volatile uint32_t *map_bar0(int dev)
{
	struct vfio_region_info bar = { .argsz = sizeof(bar), .index = VFIO_PCI_BAR0_REGION_INDEX };
	void *p;

	if (ioctl(dev, VFIO_DEVICE_GET_REGION_INFO, &bar))
		die("BAR0 region info");
	if (!(bar.flags & VFIO_REGION_INFO_FLAG_MMAP))
		die("BAR0 cannot be mmapped");
	p = mmap(NULL, bar.size, PROT_READ | PROT_WRITE, MAP_SHARED, dev, bar.offset);
	if (p == MAP_FAILED)
		die("mmap BAR0");
	return p;
}

/* Appends the kernel log's new records that IOMMU drivers printed, as JSON strings. */
static void copy_kernel_log(int kmsg, FILE *f)
{
	char rec[1024];
	int first = 1;
	ssize_t n;

	fprintf(f, ",\n  \"kernel_log\": [");
	while ((n = read(kmsg, rec, sizeof(rec) - 1)) > 0) {
		char *text = memchr(rec, ';', n);

		rec[n] = 0;
		if (!text)
			continue;
		text++;
		text[strcspn(text, "\n")] = 0;
		if (strncmp(text, "DMAR: ", 6) && strncmp(text, "dmar_fault: ", 12) && !strstr(text, "AMD-Vi") &&
		    strncmp(text, "amd_iommu", 9))
			continue;
		fprintf(f, "%s\n    \"", first ? "" : ",");
		for (char *c = text; *c; c++)
			fprintf(f, (*c == '"' || *c == '\\') ? "\\%c" : ((unsigned char)*c < 0x20 ? "?" : "%c"), *c);
		fputc('"', f);
		first = 0;
	}
	fprintf(f, "\n  ]");
}

int main(int argc, char **argv)
{
	const char *bdf, *out;
	long faults, gap_ms, late, late_after_ms;
	int container, group_fd, group, dev, kmsg;
	struct tx_desc *ring;
	uint64_t start = mono_ns(), *iovas;

	workload_name = "fault";
	bdf = arg_str(argc, argv, "--device", "0000:00:03.0");
	faults = arg_long(argc, argv, "--faults", 3);
	gap_ms = arg_long(argc, argv, "--gap-ms", 300);
	late = arg_long(argc, argv, "--late", 0);
	late_after_ms = arg_long(argc, argv, "--late-after-ms", 6000);
	out = arg_str(argc, argv, "--out", NULL);
	if (!out)
		die("--out FILE is required");
	if (faults + late < 1 || faults + late >= RING_DESCS)
		die("--faults + --late must be 1 to %d", RING_DESCS - 1);

	/* The log from here on: records before the workload are skipped. */
	kmsg = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
	if (kmsg < 0 || lseek(kmsg, 0, SEEK_END) < 0)
		die("open /dev/kmsg");

	container = vfio_container_open(bdf, &group_fd, &group);
	dev = ioctl(group_fd, VFIO_GROUP_GET_DEVICE_FD, bdf);
	if (dev < 0)
		die("VFIO_GROUP_GET_DEVICE_FD %s", bdf);
	ioctl(dev, VFIO_DEVICE_RESET);
	bar0 = map_bar0(dev);
	pci_command_set(dev, 0x6); /* memory space + bus master */

	wr(REG_CTRL, rd(REG_CTRL) | CTRL_RST);
	usleep(20000);
	wr(REG_IMC, 0xffffffff);

	/* The ring is mapped (the device reads descriptors and writes their status back); buffers are not. */
	ring = anon(4096);
	memset(ring, 0, 4096);
	errno = vfio_try_map(container, ring, RING_IOVA, 4096);
	if (errno)
		die("VFIO_IOMMU_MAP_DMA of the ring");
	iovas = calloc(faults + late, sizeof(*iovas));
	for (long i = 0; i < faults + late; i++) {
		iovas[i] = HOLE_IOVA + (uint64_t)i * 4096;
		ring[i].addr = iovas[i];
		ring[i].length = 64;
		ring[i].cmd = TXD_EOP | TXD_IFCS | TXD_RS;
	}
	__sync_synchronize();
	wr(REG_TDBAL, (uint32_t)RING_IOVA);
	wr(REG_TDBAH, (uint32_t)(RING_IOVA >> 32));
	wr(REG_TDLEN, RING_DESCS * sizeof(struct tx_desc));
	wr(REG_TDH, 0);
	wr(REG_TDT, 0);
	wr(REG_TCTL, TCTL_EN | TCTL_PSP);

	start = mono_ns();
	for (long i = 0; i < faults + late; i++) {
		if (i == faults)
			usleep(late_after_ms * 1000);
		wr(REG_TDT, i + 1);
		usleep(gap_ms * 1000);
	}
	/* The fault interrupt's handler logs after the bump: give it time under TCG. */
	usleep(1000 * 1000);

	FILE *f = truth_open(out, start);
	fprintf(f, ",\n  \"device\": \"%s\",\n  \"group\": %d,\n  \"ring_iova\": \"0x%llx\",\n  \"tx_head\": %u,\n  \"faults\": [",
		bdf, group, RING_IOVA, rd(REG_TDH));
	for (long i = 0; i < faults + late; i++)
		fprintf(f, "%s\n    { \"iova\": \"0x%llx\", \"write\": false, \"late\": %s }", i ? "," : "",
			(unsigned long long)iovas[i], i >= faults ? "true" : "false");
	fprintf(f, "\n  ]");
	copy_kernel_log(kmsg, f);
	truth_close(f);

	wr(REG_TCTL, 0);
	close(dev);
	close(group_fd);
	close(container);
	return 0;
}
