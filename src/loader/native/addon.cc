// Module entry point and the libbpf log plumbing.
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "common.h"
#include "registry.h"

namespace bpfl {

static thread_local LogCapture* current_capture = nullptr;
static bool debug_print = false;

LogCapture::LogCapture() : prev_(current_capture) { current_capture = this; }
LogCapture::~LogCapture() { current_capture = prev_; }

static int PrintFn(enum libbpf_print_level level, const char* fmt, va_list args) {
  char buf[4096];
  va_list copy;
  va_copy(copy, args);
  vsnprintf(buf, sizeof(buf), fmt, copy);
  va_end(copy);
  if (debug_print) fputs(buf, stderr);
  // Debug-level chatter is noise in an error message; keep warnings and info.
  if (current_capture && level != LIBBPF_DEBUG) current_capture->append(buf);
  return 0;
}

void InstallLibbpfPrint() {
  const char* env = getenv("IOMMUTRACE_LIBBPF_DEBUG");
  debug_print = env && *env && strcmp(env, "0") != 0;
  libbpf_set_print(PrintFn);
}

// Linux's ENOTSUPP: kernel-internal (no libc name), what a trampoline returns for too many arguments.
static const int kEnotsupp = 524;

// The C library's name of an errno (one table for the addon and, through Node, the TypeScript side).
static const char* ErrnoName(int err) {
  return err == kEnotsupp ? "ENOTSUPP" : strerrorname_np(err);
}

std::string ErrnoMessage(const std::string& what, int err, const std::string& log) {
  if (err < 0) err = -err;
  std::string msg = what;
  if (err) {
    const char* name = ErrnoName(err);
    msg += ": ";
    msg += err == kEnotsupp ? "operation not supported by the kernel" : strerror(err);
    msg += " (";
    msg += name ? name : "errno";
    msg += " " + std::to_string(err) + ")";
  }
  if (!log.empty()) msg += "\n" + log;
  return msg;
}

Napi::Error MakeError(Napi::Env env, const std::string& what, int err, const std::string& log) {
  if (err < 0) err = -err;
  Napi::Error e = Napi::Error::New(env, ErrnoMessage(what, err, ""));
  e.Set("errno", Napi::Number::New(env, err));
  const char* name = ErrnoName(err);
  if (name) e.Set("code", Napi::String::New(env, name));
  e.Set("libbpfLog", Napi::String::New(env, log));
  return e;
}

// The registry is the environment's instance data: Node deletes it when the
// environment goes away, and its destructor tears everything down in order.
void RegisterCleanup(Napi::Env env) { env.SetInstanceData(new Registry()); }

// Bytes the C allocator has handed out and not had back, over all its arenas: what the
// addon and libbpf hold, without the freed memory glibc keeps resident (tens of MiB that
// come and go in steps). Undefined where the C library cannot say.
Napi::Value MallocInUse(const Napi::CallbackInfo& info) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 33)
  struct mallinfo2 m = mallinfo2();
  return Napi::Number::New(info.Env(), static_cast<double>(m.uordblks + m.hblkhd));
#else
  return info.Env().Undefined();
#endif
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
#ifdef __GLIBC__
  // A fixed threshold: blocks of 512 KiB and more (BTF, kallsyms' tables, big Buffers)
  // are mapped apart and go back to the kernel when freed. By default glibc raises it
  // after each such free, and later ones stay resident in its heap for good.
  mallopt(M_MMAP_THRESHOLD, 512 * 1024);
#endif
  InstallLibbpfPrint();
  RegisterCleanup(env);
  InitObject(env, exports);
  InitRingbuf(env, exports);
  InitFeatures(env, exports);
  InitBtf(env, exports);
  InitMaps(env, exports);
  exports.Set("mallocInUse", Napi::Function::New(env, MallocInUse));
  exports.Set("numPossibleCpus", Napi::Number::New(env, libbpf_num_possible_cpus()));
  exports.Set("libbpfVersion", Napi::String::New(env, std::to_string(libbpf_major_version()) + "." +
                                                          std::to_string(libbpf_minor_version())));
  return exports;
}

}  // namespace bpfl

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return bpfl::Init(env, exports); }

NODE_API_MODULE(bpf_loader, InitAddon)
