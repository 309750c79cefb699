/* A VFIO device cdev bound to iommufd and attached to a new IOAS: shared by the iommufd workloads. */
#ifndef IOMMUTRACE_LAB_IOMMUFD_DEVICE_H
#define IOMMUTRACE_LAB_IOMMUFD_DEVICE_H

#include "common.h"
#include "iommufd-uapi.h"
#include <fcntl.h>

/* /dev/vfio/devices/vfioN of a PCI device bound to vfio-pci, from sysfs. */
static inline void cdev_of(const char *bdf, char *path, size_t len)
{
	char dir[256], name[64];

	snprintf(dir, sizeof(dir), "/sys/bus/pci/devices/%s/vfio-dev", bdf);
	sysfs_entry(dir, "vfio", name, sizeof(name), "VFIO device cdev (bound to vfio-pci? CONFIG_VFIO_DEVICE_CDEV?)");
	if ((size_t)snprintf(path, len, "/dev/vfio/devices/%s", name) >= len)
		die("cdev path too long");
}

/*
 * Opens the device's cdev (its path into `path`) and /dev/iommu, binds them, makes
 * an IOAS and attaches the device to it (the kernel allocates a domain). Returns the IOAS id.
 */
static inline __u32 iommufd_device_open(const char *bdf, char *path, size_t len, int *dev, int *iommufd)
{
	cdev_of(bdf, path, len);
	*dev = open(path, O_RDWR);
	if (*dev < 0)
		die("open %s", path);
	*iommufd = open("/dev/iommu", O_RDWR);
	if (*iommufd < 0)
		die("open /dev/iommu");
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind), .iommufd = *iommufd };
	if (ioctl(*dev, VFIO_DEVICE_BIND_IOMMUFD, &bind))
		die("VFIO_DEVICE_BIND_IOMMUFD");
	struct iommu_ioas_alloc ioas = { .size = sizeof(ioas) };
	if (ioctl(*iommufd, IOMMU_IOAS_ALLOC, &ioas))
		die("IOMMU_IOAS_ALLOC");
	struct vfio_device_attach_iommufd_pt attach = { .argsz = sizeof(attach), .pt_id = ioas.out_ioas_id };
	if (ioctl(*dev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach))
		die("VFIO_DEVICE_ATTACH_IOMMUFD_PT");
	return ioas.out_ioas_id;
}

/* IOMMU_IOAS_MAP of [buf, buf + size) at a fixed iova: 0, or the errno it failed with. */
static inline int ioas_try_map(int iommufd, __u32 ioas_id, void *buf, uint64_t iova, uint64_t size)
{
	struct iommu_ioas_map map = {
		.size = sizeof(map),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE,
		.ioas_id = ioas_id,
		.user_va = (uintptr_t)buf,
		.length = size,
		.iova = iova,
	};

	return ioctl(iommufd, IOMMU_IOAS_MAP, &map) ? errno : 0;
}

#endif
