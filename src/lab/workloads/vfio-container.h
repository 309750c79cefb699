/* A VFIO type1 container on one PCI device's IOMMU group: shared by the VFIO workloads. */
#ifndef IOMMUTRACE_LAB_VFIO_CONTAINER_H
#define IOMMUTRACE_LAB_VFIO_CONTAINER_H

#include "common.h"
#include <fcntl.h>
#include <linux/vfio.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

/*
 * Opens /dev/vfio/vfio and the device's group, sets the container and the type1v2
 * IOMMU (which attaches the group to a new domain). *group_fd and *group are set.
 */
static inline int vfio_container_open(const char *bdf, int *group_fd, int *group)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };
	char path[64];
	int container;

	*group = pci_group(bdf);
	if (*group < 0)
		die("%s has no IOMMU group", bdf);
	container = open("/dev/vfio/vfio", O_RDWR);
	if (container < 0)
		die("open /dev/vfio/vfio");
	if (ioctl(container, VFIO_GET_API_VERSION) != VFIO_API_VERSION)
		die("unexpected VFIO API version");
	snprintf(path, sizeof(path), "/dev/vfio/%d", *group);
	*group_fd = open(path, O_RDWR);
	if (*group_fd < 0)
		die("open %s", path);
	if (ioctl(*group_fd, VFIO_GROUP_GET_STATUS, &status) || !(status.flags & VFIO_GROUP_FLAGS_VIABLE))
		die("group %d is not viable (are all its devices bound to vfio-pci?)", *group);
	if (ioctl(*group_fd, VFIO_GROUP_SET_CONTAINER, &container))
		die("VFIO_GROUP_SET_CONTAINER");
	if (ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU))
		die("VFIO_SET_IOMMU");
	return container;
}

/* size bytes of anonymous memory, touched (present, so a pin takes it as it is). */
static inline void *anon(uint64_t size)
{
	void *buf = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (buf == MAP_FAILED)
		die("mmap %llu bytes", (unsigned long long)size);
	memset(buf, 0x5a, size);
	return buf;
}

/* VFIO_IOMMU_MAP_DMA of [buf, buf + size) at iova: 0, or the errno it failed with. */
static inline int vfio_try_map(int container, void *buf, uint64_t iova, uint64_t size)
{
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (uintptr_t)buf,
		.iova = iova,
		.size = size,
	};

	return ioctl(container, VFIO_IOMMU_MAP_DMA, &map) ? errno : 0;
}

#endif
