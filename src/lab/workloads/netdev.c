/*
 * netdev workload: the lab device left on its own kernel driver (e1000e), whose
 * default DMA domain the kernel attached at boot, long before any tool started.
 * The interface is brought up (the driver maps its receive buffers and rings
 * through the DMA API), held up, then brought down (they are unmapped). The ground
 * truth is the kernel's own: the iommu:map and iommu:unmap tracepoints, enabled
 * through tracefs for exactly that window and summed from the trace buffer.
 *
 *   netdev --device 0000:00:03.0 --up-ms 500 --out FILE
 */
#include "common.h"
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#define TRACEFS "/sys/kernel/tracing"

static void tracefs_write(const char *file, const char *value)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), TRACEFS "/%s", file);
	f = fopen(path, "w");
	if (!f || fputs(value, f) < 0 || fclose(f))
		die("writing %s to %s", value, path);
}

/* The network interface of a PCI device, from sysfs. */
static void iface_of(const char *bdf, char *name, size_t len)
{
	char dir[256];

	snprintf(dir, sizeof(dir), "/sys/bus/pci/devices/%s/net", bdf);
	sysfs_entry(dir, "", name, len, "network interface (is the device bound to its driver?)");
}

static void set_up(int sock, const char *iface, int up)
{
	struct ifreq ifr = { 0 };

	memcpy(ifr.ifr_name, iface, strlen(iface) + 1);
	if (ioctl(sock, SIOCGIFFLAGS, &ifr))
		die("SIOCGIFFLAGS %s", iface);
	ifr.ifr_flags = up ? ifr.ifr_flags | IFF_UP : ifr.ifr_flags & ~IFF_UP;
	if (ioctl(sock, SIOCSIFFLAGS, &ifr))
		die("SIOCSIFFLAGS %s %s", iface, up ? "up" : "down");
}

/* Sums "size=N" (map) and "unmapped_size=N" (unmap) over the trace buffer's iommu events. */
static void sum_trace(uint64_t *maps, uint64_t *map_bytes, uint64_t *unmaps, uint64_t *unmap_bytes)
{
	char line[1024];
	FILE *f = fopen(TRACEFS "/trace", "r");

	if (!f)
		die("open " TRACEFS "/trace");
	while (fgets(line, sizeof(line), f)) {
		const char *p;

		if (line[0] == '#')
			continue;
		if (strstr(line, " unmap: ") && (p = strstr(line, "unmapped_size="))) {
			(*unmaps)++;
			*unmap_bytes += strtoull(p + strlen("unmapped_size="), NULL, 0);
		} else if (strstr(line, " map: ") && (p = strstr(line, "size="))) {
			(*maps)++;
			*map_bytes += strtoull(p + strlen("size="), NULL, 0);
		}
	}
	fclose(f);
}

int main(int argc, char **argv)
{
	const char *bdf, *out;
	uint64_t maps = 0, map_bytes = 0, unmaps = 0, unmap_bytes = 0, start;
	long up_ms;
	char iface[IF_NAMESIZE];
	int sock;

	workload_name = "netdev";
	bdf = arg_str(argc, argv, "--device", "0000:00:03.0");
	up_ms = arg_long(argc, argv, "--up-ms", 500);
	out = arg_str(argc, argv, "--out", NULL);
	if (!out)
		die("--out FILE is required");
	iface_of(bdf, iface, sizeof(iface));
	sock = socket(AF_INET, SOCK_DGRAM, 0);
	if (sock < 0)
		die("socket");

	/* A buffer big enough that nothing of the window is overwritten. */
	tracefs_write("tracing_on", "0");
	tracefs_write("buffer_size_kb", "8192");
	tracefs_write("trace", "");
	tracefs_write("events/iommu/map/enable", "1");
	tracefs_write("events/iommu/unmap/enable", "1");
	tracefs_write("tracing_on", "1");
	start = mono_ns();
	set_up(sock, iface, 1);
	usleep(up_ms * 1000);
	set_up(sock, iface, 0);
	tracefs_write("tracing_on", "0");
	tracefs_write("events/iommu/map/enable", "0");
	tracefs_write("events/iommu/unmap/enable", "0");
	sum_trace(&maps, &map_bytes, &unmaps, &unmap_bytes);
	tracefs_write("trace", "");
	close(sock);

	FILE *f = truth_open(out, start);
	fprintf(f, ",\n  \"device\": \"%s\",\n  \"interface\": \"%s\",\n  \"group\": %d,\n  \"up_ms\": %ld,\n"
		   "  \"tracepoint_maps\": %llu,\n  \"tracepoint_map_bytes\": %llu,\n"
		   "  \"tracepoint_unmaps\": %llu,\n  \"tracepoint_unmap_bytes\": %llu",
		bdf, iface, pci_group(bdf), up_ms, (unsigned long long)maps, (unsigned long long)map_bytes,
		(unsigned long long)unmaps, (unsigned long long)unmap_bytes);
	truth_close(f);
	return 0;
}
