/*
 * leak workload: loads the iommutrace_leak module (built for the running kernel),
 * which takes --gets references on the IOMMU group of --device and keeps --keep
 * of them until it is unloaded, then writes what the module reports.
 *
 *   leak --module PATH/iommutrace_leak.ko --device BDF --gets K --keep J --out FILE
 */
#include "common.h"
#include <fcntl.h>
#include <sys/syscall.h>

static long read_param(const char *name)
{
	char path[128];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/module/iommutrace_leak/parameters/%s", name);
	f = fopen(path, "r");
	if (!f || fscanf(f, "%ld", &v) != 1)
		die("reading %s", path);
	fclose(f);
	return v;
}

int main(int argc, char **argv)
{
	const char *module, *bdf, *out;
	long gets, keep, taken, put, group;
	uint64_t start = mono_ns();
	char params[128];
	int fd;

	workload_name = "leak";
	module = arg_str(argc, argv, "--module", NULL);
	bdf = arg_str(argc, argv, "--device", "0000:00:03.0");
	gets = arg_long(argc, argv, "--gets", 4);
	keep = arg_long(argc, argv, "--keep", 1);
	out = arg_str(argc, argv, "--out", NULL);
	if (!module || !out)
		die("--module and --out are required");

	fd = open(module, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die("open %s", module);
	snprintf(params, sizeof(params), "device=%s gets=%ld leak=%ld", bdf, gets, keep);
	if (syscall(__NR_finit_module, fd, params, 0))
		die("loading %s (%s)", module, params);
	close(fd);
	taken = read_param("taken");
	put = read_param("put");
	group = read_param("group_id");

	FILE *f = truth_open(out, start);
	fprintf(f, ",\n  \"module\": \"iommutrace_leak\",\n  \"device\": \"%s\",\n  \"group\": %ld,\n"
		   "  \"gets\": %ld,\n  \"puts\": %ld,\n  \"leaked\": %ld,\n"
		   "  \"taker\": \"iommutrace_leak_take\",\n  \"putter\": \"iommutrace_leak_put\",\n"
		   "  \"released_at_unload_by\": \"iommutrace_leak_release\"",
		bdf, group, taken, put, taken - put);
	truth_close(f);
	return 0;
}
