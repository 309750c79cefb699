/*
 * qemu workload: a real VMM. Debian's own qemu-system-x86_64 passes the device
 * (bound to vfio-pci) through to a small guest held at -S: realizing the vfio-pci
 * device maps all guest RAM through VFIO type1 (pinning it), `info status` on the
 * monitor answers once that is done, and `quit` ends it. The ground truth is QEMU's
 * own trace of what it mapped (vfio_listener_region_add_ram): every section it
 * adds is unmapped again, by QEMU (vfio_listener_region_del, at the reset that
 * splits low memory) or by the kernel when QEMU's container closes at exit.
 *
 *   qemu --device 0000:00:03.0 --name lab-vm --memory-mib 256 --out FILE
 */
#include "common.h"
#include <signal.h>
#include <sys/wait.h>

/* Reads the monitor until `want` appears (or EOF); dies after 10 minutes. */
static void expect(FILE *from, const char *want)
{
	char line[4096];
	size_t have = 0;
	int c;

	for (;;) {
		c = fgetc(from);
		if (c == EOF)
			die("QEMU's monitor closed before \"%s\"", want);
		if (have + 1 < sizeof(line))
			line[have++] = (char)c;
		line[have] = 0;
		if (strstr(line, want))
			return;
		if (c == '\n')
			have = 0;
	}
}

/* Sums QEMU's vfio_listener_region_add_ram and _del ranges ("0xSTART - 0xEND", inclusive). */
static void sum_trace(const char *file, uint64_t *added, uint64_t *add_events, uint64_t *deleted, uint64_t *del_events)
{
	char line[1024];
	FILE *f = fopen(file, "r");

	if (!f)
		die("open %s", file);
	while (fgets(line, sizeof(line), f)) {
		unsigned long long start, end;
		const char *p;
		int add = !!strstr(line, "vfio_listener_region_add_ram ");
		int del = !add && strstr(line, "vfio_listener_region_del ");

		if (!add && !del)
			continue;
		p = strstr(line, "0x");
		if (!p || sscanf(p, "%llx - %llx", &start, &end) != 2)
			die("cannot read a range in QEMU's trace line: %s", line);
		if (add) {
			*added += end - start + 1;
			(*add_events)++;
		} else {
			*deleted += end - start + 1;
			(*del_events)++;
		}
	}
	fclose(f);
}

int main(int argc, char **argv)
{
	const char *bdf, *name, *out;
	uint64_t start = mono_ns(), added = 0, adds = 0, deleted = 0, dels = 0;
	int to_qemu[2], from_qemu[2], status;
	char dev[128], mem[32], trace[512], guest[128];
	long memory_mib;
	pid_t pid;

	workload_name = "qemu";
	bdf = arg_str(argc, argv, "--device", "0000:00:03.0");
	name = arg_str(argc, argv, "--name", "lab-vm");
	memory_mib = arg_long(argc, argv, "--memory-mib", 256);
	out = arg_str(argc, argv, "--out", NULL);
	if (!out)
		die("--out FILE is required");
	snprintf(trace, sizeof(trace), "%s.qemu-trace", out);
	snprintf(dev, sizeof(dev), "vfio-pci,host=%s", bdf);
	snprintf(mem, sizeof(mem), "%ld", memory_mib);
	snprintf(guest, sizeof(guest), "guest=%s", name);
	unlink(trace);

	if (pipe(to_qemu) || pipe(from_qemu))
		die("pipe");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		dup2(to_qemu[0], 0);
		dup2(from_qemu[1], 1);
		close(to_qemu[1]);
		close(from_qemu[0]);
		execlp("qemu-system-x86_64", "qemu-system-x86_64", "-name", guest, "-machine", "q35,accel=tcg",
		       "-m", mem, "-nodefaults", "-display", "none", "-S", "-device", dev, "-monitor", "stdio",
		       "-trace", "enable=vfio_listener_region*", "-D", trace, (char *)NULL);
		die("exec qemu-system-x86_64");
	}
	close(to_qemu[0]);
	close(from_qemu[1]);
	FILE *to = fdopen(to_qemu[1], "w"), *from = fdopen(from_qemu[0], "r");
	if (!to || !from)
		die("fdopen");
	/* The monitor answers only once the machine, and so the device, is realized. */
	expect(from, "(qemu)");
	fputs("info status\n", to);
	fflush(to);
	expect(from, "VM status");
	fputs("quit\n", to);
	fflush(to);
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
		die("QEMU did not exit cleanly (status 0x%x)", status);
	sum_trace(trace, &added, &adds, &deleted, &dels);

	FILE *f = truth_open(out, start);
	fprintf(f, ",\n  \"device\": \"%s\",\n  \"group\": %d,\n  \"vm\": \"%s\",\n  \"qemu_pid\": %d,\n  \"memory_bytes\": %llu,\n"
		   "  \"trace_add_ram\": %llu,\n  \"trace_del\": %llu,\n  \"trace_del_bytes\": %llu,\n"
		   "  \"mapped_bytes\": %llu,\n  \"unmapped_bytes\": %llu,\n  \"pinned_pages\": %llu,\n  \"unpinned_pages\": %llu",
		bdf, pci_group(bdf), name, (int)pid, (unsigned long long)memory_mib << 20, (unsigned long long)adds,
		(unsigned long long)dels, (unsigned long long)deleted, (unsigned long long)added, (unsigned long long)added,
		(unsigned long long)(added / 4096), (unsigned long long)(added / 4096));
	truth_close(f);
	return 0;
}
