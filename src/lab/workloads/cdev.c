/*
 * cdev workload (iommufd-6.12 with the emulated Intel IOMMU): the VFIO device cdev
 * bound to iommufd, the path VMMs take from 6.2 on instead of group + container.
 * Opens /dev/vfio/devices/vfioN of the device, binds it to an iommufd, attaches it
 * to a new IOAS (the kernel makes a domain for it), maps and unmaps S MiB N times
 * through IOMMU_IOAS_MAP / IOMMU_IOAS_UNMAP, detaches and closes.
 *
 *   cdev --device 0000:00:03.0 --rounds N --size-mib S --out FILE
 */
#include "common.h"
#include "iommufd-uapi.h"
#include <fcntl.h>
#include <sys/mman.h>

#define IOVA 0x100000000ull

/* /dev/vfio/devices/vfioN of a PCI device bound to vfio-pci, from sysfs. */
static void cdev_of(const char *bdf, char *path, size_t len)
{
	char dir[256], name[64];

	snprintf(dir, sizeof(dir), "/sys/bus/pci/devices/%s/vfio-dev", bdf);
	sysfs_entry(dir, "vfio", name, sizeof(name), "VFIO device cdev (bound to vfio-pci? CONFIG_VFIO_DEVICE_CDEV?)");
	if ((size_t)snprintf(path, len, "/dev/vfio/devices/%s", name) >= len)
		die("cdev path too long");
}

int main(int argc, char **argv)
{
	const char *bdf, *out;
	long rounds, size_mib;
	uint64_t size, start = mono_ns(), mapped = 0, unmapped = 0;
	char path[300];
	int dev, iommufd;
	void *buf;

	workload_name = "cdev";
	bdf = arg_str(argc, argv, "--device", "0000:00:03.0");
	rounds = arg_long(argc, argv, "--rounds", 10);
	size_mib = arg_long(argc, argv, "--size-mib", 2);
	out = arg_str(argc, argv, "--out", NULL);
	if (!out)
		die("--out FILE is required");
	size = (uint64_t)size_mib << 20;

	cdev_of(bdf, path, sizeof(path));
	dev = open(path, O_RDWR);
	if (dev < 0)
		die("open %s", path);
	iommufd = open("/dev/iommu", O_RDWR);
	if (iommufd < 0)
		die("open /dev/iommu");
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind), .iommufd = iommufd };
	if (ioctl(dev, VFIO_DEVICE_BIND_IOMMUFD, &bind))
		die("VFIO_DEVICE_BIND_IOMMUFD");
	struct iommu_ioas_alloc ioas = { .size = sizeof(ioas) };
	if (ioctl(iommufd, IOMMU_IOAS_ALLOC, &ioas))
		die("IOMMU_IOAS_ALLOC");
	/* Attaching to an IOAS makes the kernel allocate a domain (a HWPT) for the device. */
	struct vfio_device_attach_iommufd_pt attach = { .argsz = sizeof(attach), .pt_id = ioas.out_ioas_id };
	if (ioctl(dev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach))
		die("VFIO_DEVICE_ATTACH_IOMMUFD_PT");

	buf = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		die("mmap %ld MiB", size_mib);
	memset(buf, 0x5a, size);
	for (long i = 0; i < rounds; i++) {
		struct iommu_ioas_map map = {
			.size = sizeof(map),
			.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE,
			.ioas_id = ioas.out_ioas_id,
			.user_va = (uintptr_t)buf,
			.length = size,
			.iova = IOVA,
		};
		struct iommu_ioas_unmap unmap = { .size = sizeof(unmap), .ioas_id = ioas.out_ioas_id, .iova = IOVA, .length = size };

		if (ioctl(iommufd, IOMMU_IOAS_MAP, &map))
			die("IOMMU_IOAS_MAP round %ld", i);
		mapped += size;
		if (ioctl(iommufd, IOMMU_IOAS_UNMAP, &unmap))
			die("IOMMU_IOAS_UNMAP round %ld", i);
		unmapped += unmap.length;
	}
	struct vfio_device_detach_iommufd_pt detach = { .argsz = sizeof(detach) };
	if (ioctl(dev, VFIO_DEVICE_DETACH_IOMMUFD_PT, &detach))
		die("VFIO_DEVICE_DETACH_IOMMUFD_PT");
	close(dev);
	close(iommufd);

	FILE *f = truth_open(out, start);
	fprintf(f, ",\n  \"device\": \"%s\",\n  \"cdev\": \"%s\",\n  \"group\": %d,\n  \"rounds\": %ld,\n  \"size_bytes\": %llu,\n"
		   "  \"mapped_bytes\": %llu,\n  \"unmapped_bytes\": %llu,\n"
		   "  \"pinned_pages\": %llu,\n  \"unpinned_pages\": %llu,\n  \"attaches\": 1,\n  \"detaches\": 1",
		bdf, path, pci_group(bdf), rounds, (unsigned long long)size, (unsigned long long)mapped,
		(unsigned long long)unmapped, (unsigned long long)(mapped / 4096), (unsigned long long)(unmapped / 4096));
	truth_close(f);
	return 0;
}
