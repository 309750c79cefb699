// SPDX-License-Identifier: GPL-2.0
/*
 * A deliberately leaky module for the lab: on load it takes `gets` references on
 * the IOMMU group of one PCI device with iommu_group_get() and drops all but
 * `leak` of them, like an attach path that returns early without its put. The
 * leaked references are only dropped at unload. Read-only parameters report
 * what happened, for the workload's ground truth.
 */
#include <linux/iommu.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/slab.h>

static char *device = "0000:00:03.0";
module_param(device, charp, 0444);
MODULE_PARM_DESC(device, "PCI device (domain:bus:slot.fn) whose group is leaked");
static int gets = 4;
module_param(gets, int, 0444);
MODULE_PARM_DESC(gets, "references to take");
static int leak = 1;
module_param(leak, int, 0444);
MODULE_PARM_DESC(leak, "references to keep until unload");

/* Results, read back through /sys/module/iommutrace_leak/parameters. */
static int taken;
module_param(taken, int, 0444);
static int put;
module_param(put, int, 0444);
static int group_id = -1;
module_param(group_id, int, 0444);

static struct iommu_group **held;

/*
 * noipa keeps these real, unsuffixed functions; the barrier after each call
 * stops the compiler from turning it into a tail jump, which would leave the
 * caller, not these, on the stack.
 */
__attribute__((__noipa__)) struct iommu_group *iommutrace_leak_take(struct device *dev)
{
	struct iommu_group *group = iommu_group_get(dev);

	barrier();
	return group;
}

__attribute__((__noipa__)) void iommutrace_leak_put(struct iommu_group *group)
{
	iommu_group_put(group);
	barrier();
}

__attribute__((__noipa__)) void iommutrace_leak_release(struct iommu_group *group)
{
	iommu_group_put(group);
	barrier();
}

static int __init iommutrace_leak_init(void)
{
	unsigned int domain, bus, slot, fn;
	struct pci_dev *pdev;
	int i;

	if (gets < 1 || leak < 0 || leak > gets)
		return -EINVAL;
	if (sscanf(device, "%x:%x:%x.%x", &domain, &bus, &slot, &fn) != 4)
		return -EINVAL;
	pdev = pci_get_domain_bus_and_slot(domain, bus, PCI_DEVFN(slot, fn));
	if (!pdev)
		return -ENODEV;
	held = kcalloc(gets, sizeof(*held), GFP_KERNEL);
	if (!held) {
		pci_dev_put(pdev);
		return -ENOMEM;
	}
	for (i = 0; i < gets; i++) {
		held[i] = iommutrace_leak_take(&pdev->dev);
		if (!held[i])
			break;
		taken++;
	}
	pci_dev_put(pdev);
	if (taken < gets) {
		while (taken > 0)
			iommutrace_leak_put(held[--taken]);
		kfree(held);
		pr_err("iommutrace_leak: %s has no IOMMU group\n", device);
		return -ENODEV;
	}
	group_id = iommu_group_id(held[0]);
	for (i = leak; i < gets; i++) {
		iommutrace_leak_put(held[i]);
		put++;
	}
	return 0;
}

static void __exit iommutrace_leak_exit(void)
{
	int i;

	for (i = 0; i < leak; i++)
		iommutrace_leak_release(held[i]);
	kfree(held);
}

module_init(iommutrace_leak_init);
module_exit(iommutrace_leak_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("iommutrace lab: leaks IOMMU group references on purpose");
