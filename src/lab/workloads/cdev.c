/*
 * cdev workload (iommufd-6.12 with the emulated Intel IOMMU): the VFIO device cdev
 * bound to iommufd, the path VMMs take from 6.2 on instead of group + container.
 * Opens /dev/vfio/devices/vfioN of the device, binds it to an iommufd, attaches it
 * to a new IOAS (the kernel makes a domain for it), maps and unmaps S MiB N times
 * through IOMMU_IOAS_MAP / IOMMU_IOAS_UNMAP, detaches and closes.
 *
 *   cdev --device 0000:00:03.0 --rounds N --size-mib S --out FILE
 */
#include "iommufd-device.h"
#include <sys/mman.h>

#define IOVA 0x100000000ull

int main(int argc, char **argv)
{
	const char *bdf, *out;
	long rounds, size_mib;
	uint64_t size, start = mono_ns(), mapped = 0, unmapped = 0;
	char path[300];
	int dev, iommufd;
	__u32 ioas_id;
	void *buf;

	workload_name = "cdev";
	bdf = arg_str(argc, argv, "--device", "0000:00:03.0");
	rounds = arg_long(argc, argv, "--rounds", 10);
	size_mib = arg_long(argc, argv, "--size-mib", 2);
	out = arg_str(argc, argv, "--out", NULL);
	if (!out)
		die("--out FILE is required");
	size = (uint64_t)size_mib << 20;

	/* Attaching to an IOAS makes the kernel allocate a domain (a HWPT) for the device. */
	ioas_id = iommufd_device_open(bdf, path, sizeof(path), &dev, &iommufd);

	buf = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		die("mmap %ld MiB", size_mib);
	memset(buf, 0x5a, size);
	for (long i = 0; i < rounds; i++) {
		struct iommu_ioas_unmap unmap = { .size = sizeof(unmap), .ioas_id = ioas_id, .iova = IOVA, .length = size };

		errno = ioas_try_map(iommufd, ioas_id, buf, IOVA, size);
		if (errno)
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
