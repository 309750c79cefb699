// BPF objects and links: open, configure programs before load, load on a worker
// thread, attach in every mode, close in the safe order.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "common.h"
#include "registry.h"

namespace bpfl {

namespace {

struct LinkRec {
  bpf_link* link = nullptr;
  std::string program;
  void Destroy() {
    if (link) bpf_link__destroy(link);
    link = nullptr;
  }
};

class Link : public Napi::ObjectWrap<Link> {
 public:
  static Napi::FunctionReference ctor;
  static void Init(Napi::Env env) {
    Napi::Function f = DefineClass(env, "Link",
                                   {InstanceMethod("close", &Link::Close), InstanceAccessor("fd", &Link::Fd, nullptr),
                                    InstanceAccessor("closed", &Link::Closed, nullptr)});
    ctor = Napi::Persistent(f);
  }
  explicit Link(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Link>(info) {}
  std::shared_ptr<LinkRec> rec;

 private:
  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (rec) rec->Destroy();
    return info.Env().Undefined();
  }
  Napi::Value Fd(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), rec && rec->link ? bpf_link__fd(rec->link) : -1);
  }
  Napi::Value Closed(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), !rec || !rec->link);
  }
};
Napi::FunctionReference Link::ctor;

// Reads a tracepoint id from the given tracefs mount, so callers are not bound to
// the two places libbpf 1.1 looks.
int TracepointId(const std::string& tracefs, const std::string& category, const std::string& event) {
  std::ifstream f(tracefs + "/events/" + category + "/" + event + "/id");
  if (!f) return -errno ? -errno : -ENOENT;
  int id = -1;
  f >> id;
  return f ? id : -EINVAL;
}

bpf_link* AttachTracepoint(bpf_program* prog, const std::string& tracefs, const std::string& target, int* err) {
  auto colon = target.find(':');
  if (colon == std::string::npos) {
    *err = -EINVAL;
    return nullptr;
  }
  int id = TracepointId(tracefs, target.substr(0, colon), target.substr(colon + 1));
  if (id < 0) {
    *err = id;
    return nullptr;
  }
  perf_event_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.type = PERF_TYPE_TRACEPOINT;
  attr.size = sizeof(attr);
  attr.config = id;
  int pfd = syscall(__NR_perf_event_open, &attr, -1 /* pid */, 0 /* cpu */, -1 /* group */, PERF_FLAG_FD_CLOEXEC);
  if (pfd < 0) {
    *err = -errno;
    return nullptr;
  }
  bpf_link* link = bpf_program__attach_perf_event(prog, pfd);
  if (!link) {
    *err = -errno;
    close(pfd);
    return nullptr;
  }
  return link;
}

class Object;

class LoadWorker : public Napi::AsyncWorker {
 public:
  LoadWorker(Napi::Env env, Object* owner, bpf_object* obj, Napi::Promise::Deferred deferred)
      : Napi::AsyncWorker(env), owner_(owner), obj_(obj), deferred_(deferred) {}
  void Execute() override {
    LogCapture cap;
    err_ = bpf_object__load(obj_);
    if (err_) err_ = errno ? -errno : err_;
#ifdef __GLIBC__
    // libbpf parsed the kernel's BTF for the relocations and has freed it: tens of MB
    // that glibc would otherwise keep for the agent's whole life.
    malloc_trim(0);
#endif
    log_ = cap.text();
  }
  void OnOK() override;

 private:
  Object* owner_;
  bpf_object* obj_;
  Napi::Promise::Deferred deferred_;
  int err_ = 0;
  std::string log_;
};

class Object : public Napi::ObjectWrap<Object>, public Closeable {
 public:
  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function f = DefineClass(
        env, "BpfObject",
        {InstanceMethod("programs", &Object::Programs), InstanceMethod("maps", &Object::Maps),
         InstanceMethod("setAutoload", &Object::SetAutoload),
         InstanceMethod("setAttachTarget", &Object::SetAttachTarget),
         InstanceMethod("initialValue", &Object::InitialValue),
         InstanceMethod("setInitialValue", &Object::SetInitialValue),
         InstanceMethod("setMaxEntries", &Object::SetMaxEntries), InstanceMethod("reuseMapFd", &Object::ReuseMapFd),
         InstanceMethod("load", &Object::Load),
         InstanceMethod("attach", &Object::Attach), InstanceMethod("mapFd", &Object::MapFd),
         InstanceMethod("programFd", &Object::ProgramFd), InstanceMethod("close", &Object::Close),
         InstanceAccessor("state", &Object::State, nullptr)});
    exports.Set("BpfObject", f);
  }

  explicit Object(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Object>(info) {
    Napi::Env env = info.Env();
    if (!info[0].IsString()) {
      Napi::TypeError::New(env, "BpfObject(path, options?): path must be a string").ThrowAsJavaScriptException();
      return;
    }
    std::string path = info[0].As<Napi::String>();
    std::string btf_path;
    if (info[1].IsObject()) {
      Napi::Object o = info[1].As<Napi::Object>();
      if (o.Get("btfCustomPath").IsString()) btf_path = o.Get("btfCustomPath").As<Napi::String>();
      if (o.Get("tracefs").IsString()) tracefs_ = o.Get("tracefs").As<Napi::String>().Utf8Value();
    }
    LIBBPF_OPTS(bpf_object_open_opts, opts);
    if (!btf_path.empty()) opts.btf_custom_path = btf_path.c_str();
    LogCapture cap;
    obj_ = bpf_object__open_file(path.c_str(), &opts);
    if (!obj_) {
      int err = errno;
      MakeError(env, "cannot open BPF object " + path, err, cap.text()).ThrowAsJavaScriptException();
      return;
    }
    Registry::Get(env).Add(this);
  }

  ~Object() override {
    Teardown();
    if (registry) registry->Remove(this);
  }

  void Teardown() override {
    for (auto& l : links_) l->Destroy();
    links_.clear();
    if (obj_) bpf_object__close(obj_);
    obj_ = nullptr;
    state_ = "closed";
  }

  void LoadDone(Napi::Env env, Napi::Promise::Deferred d, int err, const std::string& log) {
    if (state_ == "closed") {
      d.Reject(MakeError(env, "object was closed while loading", 0).Value());
      return;
    }
    if (err) {
      state_ = "failed";
      d.Reject(MakeError(env, "cannot load BPF object", err, log).Value());
      return;
    }
    state_ = "loaded";
    d.Resolve(env.Undefined());
  }

 private:
  bpf_object* obj_ = nullptr;
  std::string state_ = "opened";
  std::string tracefs_ = "/sys/kernel/tracing";
  std::vector<std::shared_ptr<LinkRec>> links_;

  bool Usable(Napi::Env env) {
    if (!obj_) {
      Napi::Error::New(env, "BPF object is closed").ThrowAsJavaScriptException();
      return false;
    }
    if (state_ == "loading") {
      Napi::Error::New(env, "BPF object is loading").ThrowAsJavaScriptException();
      return false;
    }
    return true;
  }
  bool Require(Napi::Env env, const char* want, const char* what) {
    if (!Usable(env)) return false;
    if (state_ != want) {
      Napi::Error::New(env, std::string(what) + " needs the object " + want + ", it is " + state_)
          .ThrowAsJavaScriptException();
      return false;
    }
    return true;
  }
  bpf_program* Prog(Napi::Env env, const Napi::Value& name) {
    if (!name.IsString()) {
      Napi::TypeError::New(env, "program name must be a string").ThrowAsJavaScriptException();
      return nullptr;
    }
    std::string n = name.As<Napi::String>();
    bpf_program* p = bpf_object__find_program_by_name(obj_, n.c_str());
    if (!p) Napi::Error::New(env, "no program named " + n).ThrowAsJavaScriptException();
    return p;
  }
  bpf_map* Map(Napi::Env env, const Napi::Value& name) {
    if (!name.IsString()) {
      Napi::TypeError::New(env, "map name must be a string").ThrowAsJavaScriptException();
      return nullptr;
    }
    std::string n = name.As<Napi::String>();
    bpf_map* m = bpf_object__find_map_by_name(obj_, n.c_str());
    if (!m) Napi::Error::New(env, "no map named " + n).ThrowAsJavaScriptException();
    return m;
  }

  Napi::Value State(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), state_); }

  Napi::Value Programs(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Usable(env)) return env.Undefined();
    Napi::Array out = Napi::Array::New(env);
    bpf_program* p;
    uint32_t i = 0;
    bpf_object__for_each_program(p, obj_) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", bpf_program__name(p));
      o.Set("section", bpf_program__section_name(p));
      o.Set("type", static_cast<double>(bpf_program__type(p)));
      o.Set("expectedAttachType", static_cast<double>(bpf_program__expected_attach_type(p)));
      o.Set("autoload", bpf_program__autoload(p));
      o.Set("fd", bpf_program__fd(p));
      out.Set(i++, o);
    }
    return out;
  }

  Napi::Value Maps(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Usable(env)) return env.Undefined();
    Napi::Array out = Napi::Array::New(env);
    bpf_map* m;
    uint32_t i = 0;
    bpf_object__for_each_map(m, obj_) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", bpf_map__name(m));
      o.Set("type", static_cast<double>(bpf_map__type(m)));
      o.Set("keySize", bpf_map__key_size(m));
      o.Set("valueSize", bpf_map__value_size(m));
      o.Set("maxEntries", bpf_map__max_entries(m));
      o.Set("flags", bpf_map__map_flags(m));
      o.Set("fd", bpf_map__fd(m));
      out.Set(i++, o);
    }
    return out;
  }

  Napi::Value SetAutoload(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Require(env, "opened", "setAutoload")) return env.Undefined();
    bpf_program* p = Prog(env, info[0]);
    if (!p) return env.Undefined();
    int err = bpf_program__set_autoload(p, info[1].ToBoolean());
    if (err) MakeError(env, "setAutoload", err).ThrowAsJavaScriptException();
    return env.Undefined();
  }

  Napi::Value SetAttachTarget(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Require(env, "opened", "setAttachTarget")) return env.Undefined();
    bpf_program* p = Prog(env, info[0]);
    if (!p) return env.Undefined();
    std::string fn = info[1].ToString();
    LogCapture cap;
    int err = bpf_program__set_attach_target(p, 0, fn.c_str());
    if (err)
      MakeError(env, std::string("cannot target ") + bpf_program__name(p) + " at " + fn, err, cap.text())
          .ThrowAsJavaScriptException();
    return env.Undefined();
  }

  Napi::Value InitialValue(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Usable(env)) return env.Undefined();
    bpf_map* m = Map(env, info[0]);
    if (!m) return env.Undefined();
    size_t size = 0;
    const void* data = bpf_map__initial_value(m, &size);
    if (!data) return env.Null();
    return Napi::Buffer<uint8_t>::Copy(env, static_cast<const uint8_t*>(data), size);
  }

  Napi::Value SetInitialValue(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Require(env, "opened", "setInitialValue")) return env.Undefined();
    bpf_map* m = Map(env, info[0]);
    if (!m) return env.Undefined();
    if (!info[1].IsBuffer()) {
      Napi::TypeError::New(env, "setInitialValue(map, buffer)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    auto buf = info[1].As<Napi::Buffer<uint8_t>>();
    int err = bpf_map__set_initial_value(m, buf.Data(), buf.Length());
    if (err) MakeError(env, std::string("setInitialValue ") + bpf_map__name(m), err).ThrowAsJavaScriptException();
    return env.Undefined();
  }

  Napi::Value SetMaxEntries(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Require(env, "opened", "setMaxEntries")) return env.Undefined();
    bpf_map* m = Map(env, info[0]);
    if (!m) return env.Undefined();
    int err = bpf_map__set_max_entries(m, info[1].ToNumber().Uint32Value());
    if (err) MakeError(env, std::string("setMaxEntries ") + bpf_map__name(m), err).ThrowAsJavaScriptException();
    return env.Undefined();
  }

  // Before load: the map is another object's (by fd), not created anew; programs of
  // both objects then share it (probes loaded later, for a module loaded later).
  Napi::Value ReuseMapFd(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Require(env, "opened", "reuseMapFd")) return env.Undefined();
    bpf_map* m = Map(env, info[0]);
    if (!m) return env.Undefined();
    int err = bpf_map__reuse_fd(m, info[1].ToNumber().Int32Value());
    if (err) MakeError(env, std::string("reuseMapFd ") + bpf_map__name(m), err).ThrowAsJavaScriptException();
    return env.Undefined();
  }

  Napi::Value Load(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto d = Napi::Promise::Deferred::New(env);
    if (!obj_ || state_ != "opened") {
      d.Reject(Napi::Error::New(env, "load needs a freshly opened object, it is " + state_).Value());
      return d.Promise();
    }
    state_ = "loading";
    // Keep the JS object alive while the worker runs.
    Ref();
    (new LoadWorker(env, this, obj_, d))->Queue();
    return d.Promise();
  }

  Napi::Value Attach(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Require(env, "loaded", "attach")) return env.Undefined();
    bpf_program* p = Prog(env, info[0]);
    if (!p) return env.Undefined();
    std::string mode = info[1].ToString();
    std::string target = info[2].IsString() ? info[2].As<Napi::String>().Utf8Value() : "";
    LogCapture cap;
    bpf_link* link = nullptr;
    int err = 0;
    if (mode == "fentry" || mode == "fexit" || mode == "tp_btf") {
      link = bpf_program__attach_trace(p);
    } else if (mode == "raw_tp") {
      link = bpf_program__attach_raw_tracepoint(p, target.c_str());
    } else if (mode == "kprobe" || mode == "kretprobe") {
      LIBBPF_OPTS(bpf_kprobe_opts, kopts, .retprobe = mode == "kretprobe");
      link = bpf_program__attach_kprobe_opts(p, target.c_str(), &kopts);
    } else if (mode == "tracepoint") {
      link = AttachTracepoint(p, tracefs_, target, &err);
    } else {
      Napi::Error::New(env, "unknown attach mode " + mode).ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (!link) {
      if (!err) err = -errno;
      std::string what = std::string("cannot attach ") + bpf_program__name(p) + " (" + mode;
      if (!target.empty()) what += " " + target;
      MakeError(env, what + ")", err, cap.text()).ThrowAsJavaScriptException();
      return env.Undefined();
    }
    auto rec = std::make_shared<LinkRec>();
    rec->link = link;
    rec->program = bpf_program__name(p);
    links_.push_back(rec);
    Napi::Object jsLink = Link::ctor.New({});
    Link::Unwrap(jsLink)->rec = rec;
    return jsLink;
  }

  Napi::Value MapFd(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Usable(env)) return env.Undefined();
    bpf_map* m = Map(env, info[0]);
    return m ? Napi::Number::New(env, bpf_map__fd(m)) : env.Undefined();
  }

  Napi::Value ProgramFd(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Usable(env)) return env.Undefined();
    bpf_program* p = Prog(env, info[0]);
    return p ? Napi::Number::New(env, bpf_program__fd(p)) : env.Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (state_ == "loading") {
      Napi::Error::New(env, "cannot close a BPF object while it loads").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    Teardown();
    if (registry) registry->Remove(this);
    return env.Undefined();
  }
};

void LoadWorker::OnOK() {
  Napi::HandleScope scope(Env());
  owner_->LoadDone(Env(), deferred_, err_, log_);
  owner_->Unref();
}

}  // namespace

void InitObject(Napi::Env env, Napi::Object exports) {
  Link::Init(env);
  Object::Init(env, exports);
}

}  // namespace bpfl
