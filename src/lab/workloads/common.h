/* Shared by the lab workloads: argument parsing, errors and the ground-truth JSON. */
#ifndef IOMMUTRACE_LAB_COMMON_H
#define IOMMUTRACE_LAB_COMMON_H

#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

static const char *workload_name = "workload";

static inline void die(const char *fmt, ...)
{
	va_list ap;
	int err = errno;

	fprintf(stderr, "%s: ", workload_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, err ? ": %s\n" : "\n", strerror(err));
	exit(1);
}

/* CLOCK_MONOTONIC is what bpf_ktime_get_ns() returns: lets a test cut a capture to the workload. */
static inline uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Value of "--name VALUE" in argv, or def. */
static inline const char *arg_str(int argc, char **argv, const char *name, const char *def)
{
	for (int i = 1; i + 1 < argc; i++)
		if (!strcmp(argv[i], name))
			return argv[i + 1];
	return def;
}

static inline long arg_long(int argc, char **argv, const char *name, long def)
{
	const char *s = arg_str(argc, argv, name, NULL);
	char *end;
	long v;

	if (!s)
		return def;
	v = strtol(s, &end, 0);
	if (*end || v < 0)
		die("bad value for %s: %s", name, s);
	return v;
}

/* Makes sure n more 2 MiB huge pages exist for MAP_HUGETLB. */
static inline void reserve_huge_pages(long n)
{
	FILE *f = fopen("/proc/sys/vm/nr_hugepages", "r+");
	long have = 0;

	if (!f)
		die("open /proc/sys/vm/nr_hugepages");
	if (fscanf(f, "%ld", &have) != 1)
		have = 0;
	rewind(f);
	fprintf(f, "%ld\n", have + n);
	if (fclose(f))
		die("reserving %ld huge pages", n);
}

/* Opens the ground-truth file and writes the fields every workload has. */
static inline FILE *truth_open(const char *path, uint64_t start_ns)
{
	struct utsname u;
	FILE *f = fopen(path, "w");

	if (!f)
		die("cannot write %s", path);
	uname(&u);
	fprintf(f, "{\n  \"workload\": \"%s\",\n  \"kernel\": \"%s\",\n  \"pid\": %d,\n"
		   "  \"start_ns\": %llu,\n  \"end_ns\": %llu",
		workload_name, u.release, getpid(), (unsigned long long)start_ns,
		(unsigned long long)mono_ns());
	return f;
}

static inline void truth_close(FILE *f)
{
	fprintf(f, "\n}\n");
	if (fclose(f))
		die("writing ground truth");
}

/*
 * The first entry of a sysfs directory whose name starts with `prefix` ("" for any),
 * into out; dies with `what` when the directory or the entry is missing.
 */
static inline void sysfs_entry(const char *dir, const char *prefix, char *out, size_t len, const char *what)
{
	struct dirent *d;
	DIR *dp = opendir(dir);

	if (!dp)
		die("%s: no %s", dir, what);
	while ((d = readdir(dp)) && (d->d_name[0] == '.' || strncmp(d->d_name, prefix, strlen(prefix))))
		;
	if (!d)
		die("%s: no %s", dir, what);
	if (strlen(d->d_name) >= len)
		die("%s: %s too long", dir, d->d_name);
	memcpy(out, d->d_name, strlen(d->d_name) + 1);
	closedir(dp);
}

/* The IOMMU group number of a PCI device, from sysfs; -1 when it has none. */
static inline int pci_group(const char *bdf)
{
	char link[256], target[256];
	ssize_t n;
	const char *slash;

	snprintf(link, sizeof(link), "/sys/bus/pci/devices/%s/iommu_group", bdf);
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return -1;
	target[n] = 0;
	slash = strrchr(target, '/');
	return atoi(slash ? slash + 1 : target);
}

#endif
