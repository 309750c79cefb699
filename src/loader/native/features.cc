// Feature probes: can this kernel load and attach fentry/fexit at a symbol, does a
// kprobe exist for it, does it have ring buffers. Each answer carries the errno
// and the stage that failed, so the planner can say why.
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/perf_event.h>
#include <malloc.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>

#include "common.h"

namespace bpfl {

namespace {

struct Found {
  int btf_id = -ENOENT;
  int obj_fd = 0;  // 0: vmlinux; else the module BTF object's fd (caller closes)
};

// Loaded at the first question and kept for the next ones, until releaseBtf(): 6 MB a
// long-running agent no longer needs once its probes are planned.
btf* vmlinux_btf = nullptr;

btf* Vmlinux() {
  if (!vmlinux_btf) vmlinux_btf = btf__load_vmlinux_btf();
  return vmlinux_btf;
}

// Looks a function up in vmlinux BTF, or in the BTF of `module` (any module when
// empty and vmlinux lacks it).
Found FindFunction(const std::string& fn, const std::string& module) {
  Found f;
  btf* base = Vmlinux();
  if (!base) {
    f.btf_id = -ENOENT;
    return f;
  }
  if (module.empty() || module == "vmlinux") {
    int id = btf__find_by_name_kind(base, fn.c_str(), BTF_KIND_FUNC);
    if (id > 0 || module == "vmlinux") {
      f.btf_id = id;
      return f;
    }
  }
  __u32 id = 0;
  while (bpf_btf_get_next_id(id, &id) == 0) {
    int fd = bpf_btf_get_fd_by_id(id);
    if (fd < 0) continue;
    char name[64] = {0};
    bpf_btf_info info;
    memset(&info, 0, sizeof(info));
    info.name = reinterpret_cast<__u64>(name);
    info.name_len = sizeof(name);
    __u32 len = sizeof(info);
    bool candidate = bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && info.kernel_btf &&
                     strcmp(name, "vmlinux") != 0 && (module.empty() || module == name);
    if (candidate) {
      btf* mod = btf__load_from_kernel_by_id_split(id, base);
      int tid = mod ? btf__find_by_name_kind(mod, fn.c_str(), BTF_KIND_FUNC) : -ENOENT;
      btf__free(mod);
      if (tid > 0) {
        f.btf_id = tid;
        f.obj_fd = fd;
        return f;
      }
    }
    close(fd);
  }
  return f;
}

Napi::Object Result(Napi::Env env, bool ok, const char* stage, int err, const std::string& message) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("ok", ok);
  o.Set("stage", stage);
  o.Set("errno", err < 0 ? -err : err);
  o.Set("message", message);
  return o;
}

// probeTrampoline(symbol, module, 'fentry' | 'fexit') -> { ok, stage, errno, message }
// Loads an empty tracing program at the symbol and attaches it for an instant:
// loading alone misses refusals that only come at attach time (argument count).
Napi::Value ProbeTrampoline(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string fn = info[0].ToString();
  std::string module = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
  bool fexit = info[2].IsString() && info[2].As<Napi::String>().Utf8Value() == "fexit";
  if (!Vmlinux()) return Result(env, false, "btf", ENOENT, "kernel BTF is not available");
  Found f = FindFunction(fn, module);
  if (f.btf_id <= 0) return Result(env, false, "btf", ENOENT, fn + " is not in kernel BTF");
  struct bpf_insn insns[] = {
      {BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0},
      {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},
  };
  LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = fexit ? BPF_TRACE_FEXIT : BPF_TRACE_FENTRY,
              .attach_btf_id = static_cast<__u32>(f.btf_id), .attach_btf_obj_fd = static_cast<__u32>(f.obj_fd));
  int prog = bpf_prog_load(BPF_PROG_TYPE_TRACING, "it_probe", "GPL", insns, 2, &opts);
  int err = prog < 0 ? errno : 0;
  if (f.obj_fd > 0) close(f.obj_fd);
  if (prog < 0) return Result(env, false, "load", err, ErrnoMessage("load refused", err, ""));
  int link = bpf_raw_tracepoint_open(nullptr, prog);
  err = link < 0 ? errno : 0;
  if (link >= 0) close(link);
  close(prog);
  if (link < 0) return Result(env, false, "attach", err, ErrnoMessage("attach refused", err, ""));
  return Result(env, true, "attach", 0, "");
}

int ReadInt(const std::string& path) {
  std::ifstream f(path);
  int v = -1;
  if (f) f >> v;
  return f ? v : -1;
}

// probeKprobe(symbol) -> { ok, stage, errno, message }: opens (and closes) a perf
// kprobe event at the symbol, which is what attaching needs, without tracefs.
Napi::Value ProbeKprobe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string fn = info[0].ToString();
  int type = ReadInt("/sys/bus/event_source/devices/kprobe/type");
  if (type < 0) return Result(env, false, "pmu", ENOENT, "kprobes are not built into this kernel");
  perf_event_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.size = sizeof(attr);
  attr.type = type;
  attr.config1 = reinterpret_cast<__u64>(fn.c_str());
  int fd = syscall(__NR_perf_event_open, &attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    return Result(env, false, "open", err, ErrnoMessage("kprobe refused", err, ""));
  }
  close(fd);
  return Result(env, true, "open", 0, "");
}

// probeMapType(type) -> true when the kernel can create a map of that BPF_MAP_TYPE_*.
Napi::Value ProbeMapType(const Napi::CallbackInfo& info) {
  int t = info[0].ToNumber().Int32Value();
  return Napi::Boolean::New(info.Env(), libbpf_probe_bpf_map_type(static_cast<bpf_map_type>(t), nullptr) == 1);
}

// probeProgType(type) -> true when the kernel can load a program of that BPF_PROG_TYPE_*.
Napi::Value ProbeProgType(const Napi::CallbackInfo& info) {
  int t = info[0].ToNumber().Int32Value();
  return Napi::Boolean::New(info.Env(), libbpf_probe_bpf_prog_type(static_cast<bpf_prog_type>(t), nullptr) == 1);
}

Napi::Value ReleaseBtf(const Napi::CallbackInfo& info) {
  if (vmlinux_btf) {
    btf__free(vmlinux_btf);
    vmlinux_btf = nullptr;
#ifdef __GLIBC__
    // Else glibc keeps the freed pages resident for the agent's whole life.
    malloc_trim(0);
#endif
  }
  return info.Env().Undefined();
}

}  // namespace

void InitFeatures(Napi::Env env, Napi::Object exports) {
  exports.Set("probeTrampoline", Napi::Function::New(env, ProbeTrampoline));
  exports.Set("probeKprobe", Napi::Function::New(env, ProbeKprobe));
  exports.Set("probeMapType", Napi::Function::New(env, ProbeMapType));
  exports.Set("probeProgType", Napi::Function::New(env, ProbeProgType));
  exports.Set("releaseBtf", Napi::Function::New(env, ReleaseBtf));
}

}  // namespace bpfl
