// Ring-buffer consumer: the map fd is polled on the Node event loop (uv_poll), and
// each wakeup hands JS one Buffer holding at most maxRecords records, so a fast
// producer can never freeze the loop: the rest waits for the next turn.
//
// Batch framing, read by src/loader/ringbuf.ts: per record a u32 length, a u32
// zero, then the record padded to 8 bytes.
#include <bpf/libbpf.h>
#include <uv.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "common.h"
#include "registry.h"

namespace bpfl {

namespace {

// Returned from the sample callback to stop a capped drain. libbpf 1.1 has already
// moved the consumer position past the record, so nothing is read twice.
constexpr int kBatchFull = -ECANCELED;

class RingConsumer : public Napi::ObjectWrap<RingConsumer>, public Closeable {
 public:
  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function f =
        DefineClass(env, "RingConsumer",
                    {InstanceMethod("pause", &RingConsumer::Pause), InstanceMethod("resume", &RingConsumer::Resume),
                     InstanceMethod("consume", &RingConsumer::Consume), InstanceMethod("close", &RingConsumer::Close),
                     InstanceMethod("ref", &RingConsumer::RefLoop), InstanceMethod("unref", &RingConsumer::UnrefLoop),
                     InstanceAccessor("closed", &RingConsumer::Closed, nullptr)});
    exports.Set("RingConsumer", f);
  }

  // new RingConsumer(mapFd, onBatch(buffer, count), { maxRecords })
  explicit RingConsumer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<RingConsumer>(info) {
    Napi::Env env = info.Env();
    tier = 0;
    if (!info[0].IsNumber() || !info[1].IsFunction()) {
      Napi::TypeError::New(env, "RingConsumer(mapFd, onBatch, options?)").ThrowAsJavaScriptException();
      return;
    }
    int fd = info[0].As<Napi::Number>().Int32Value();
    if (info[2].IsObject()) {
      Napi::Value m = info[2].As<Napi::Object>().Get("maxRecords");
      if (m.IsNumber()) max_records_ = m.As<Napi::Number>().Uint32Value();
    }
    if (max_records_ == 0) max_records_ = 1;
    LogCapture cap;
    rb_ = ring_buffer__new(fd, &RingConsumer::Sample, this, nullptr);
    if (!rb_) {
      MakeError(env, "cannot open ring buffer", errno, cap.text()).ThrowAsJavaScriptException();
      return;
    }
    callback_ = Napi::Persistent(info[1].As<Napi::Function>());
    context_ = std::make_unique<Napi::AsyncContext>(env, "bpf-loader-ts:ringbuf");
    uv_loop_t* loop = nullptr;
    napi_get_uv_event_loop(env, &loop);
    poll_ = new uv_poll_t;
    poll_->data = this;
    if (uv_poll_init(loop, poll_, fd) != 0) {
      delete poll_;
      poll_ = nullptr;
      ring_buffer__free(rb_);
      rb_ = nullptr;
      Napi::Error::New(env, "cannot poll ring buffer fd").ThrowAsJavaScriptException();
      return;
    }
    uv_poll_start(poll_, UV_READABLE, &RingConsumer::OnReadable);
    Registry::Get(env).Add(this);
    // Stay alive while polling even if JS drops its reference.
    Ref();
  }

  ~RingConsumer() override {
    Teardown();
    if (registry) registry->Remove(this);
  }

  void Teardown() override {
    if (poll_) {
      uv_poll_stop(poll_);
      uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
      poll_ = nullptr;
    }
    if (rb_) ring_buffer__free(rb_);
    rb_ = nullptr;
  }

 private:
  ring_buffer* rb_ = nullptr;
  uv_poll_t* poll_ = nullptr;
  Napi::FunctionReference callback_;
  std::unique_ptr<Napi::AsyncContext> context_;
  std::vector<uint8_t> batch_;
  size_t used_ = 0;
  uint32_t count_ = 0;
  uint32_t max_records_ = 4096;
  bool paused_ = false;
  bool in_callback_ = false;

  static int Sample(void* ctx, void* data, size_t len) {
    auto* self = static_cast<RingConsumer*>(ctx);
    size_t need = 8 + ((len + 7) & ~size_t(7));
    if (self->used_ + need > self->batch_.size()) self->batch_.resize((self->used_ + need) * 2);
    uint8_t* p = self->batch_.data() + self->used_;
    uint32_t hdr[2] = {static_cast<uint32_t>(len), 0};
    memcpy(p, hdr, 8);
    memcpy(p + 8, data, len);
    self->used_ += need;
    return ++self->count_ >= self->max_records_ ? kBatchFull : 0;
  }

  // Fills the batch with up to max_records_ records; returns 0 or -errno.
  int Drain() {
    used_ = 0;
    count_ = 0;
    int n = ring_buffer__consume(rb_);
    return n < 0 && n != kBatchFull ? n : 0;
  }

  Napi::Value TakeBatch(Napi::Env env) { return Napi::Buffer<uint8_t>::Copy(env, batch_.data(), used_); }

  static void OnReadable(uv_poll_t* handle, int status, int events) {
    auto* self = static_cast<RingConsumer*>(handle->data);
    if (!self->rb_ || self->in_callback_) return;
    Napi::Env env = self->Env();
    Napi::HandleScope scope(env);
    int err = status < 0 ? status : self->Drain();
    if (err == 0 && self->count_ == 0) return;
    std::vector<napi_value> args;
    if (err) {
      args = {MakeError(env, "ring buffer read failed", err).Value()};
    } else {
      args = {self->TakeBatch(env), Napi::Number::New(env, self->count_)};
    }
    self->in_callback_ = true;
    self->callback_.MakeCallback(self->Value(), args, *self->context_);
    self->in_callback_ = false;
    if (env.IsExceptionPending()) {
      Napi::Error e = env.GetAndClearPendingException();
      napi_fatal_exception(env, e.Value());
    }
  }

  bool Open(Napi::Env env) {
    if (rb_) return true;
    Napi::Error::New(env, "ring buffer consumer is closed").ThrowAsJavaScriptException();
    return false;
  }

  Napi::Value Pause(const Napi::CallbackInfo& info) {
    if (Open(info.Env()) && !paused_) {
      uv_poll_stop(poll_);
      paused_ = true;
    }
    return info.Env().Undefined();
  }

  Napi::Value Resume(const Napi::CallbackInfo& info) {
    if (Open(info.Env()) && paused_) {
      uv_poll_start(poll_, UV_READABLE, &RingConsumer::OnReadable);
      paused_ = false;
    }
    return info.Env().Undefined();
  }

  // Synchronous drain of one batch: { buffer, count }; count 0 when the ring is empty.
  Napi::Value Consume(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Open(env)) return env.Undefined();
    int err = Drain();
    if (err) {
      MakeError(env, "ring buffer read failed", err).ThrowAsJavaScriptException();
      return env.Undefined();
    }
    Napi::Object out = Napi::Object::New(env);
    out.Set("buffer", TakeBatch(env));
    out.Set("count", Napi::Number::New(env, count_));
    return out;
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (rb_) {
      Teardown();
      if (registry) registry->Remove(this);
      Unref();
    }
    return info.Env().Undefined();
  }

  Napi::Value RefLoop(const Napi::CallbackInfo& info) {
    if (poll_) uv_ref(reinterpret_cast<uv_handle_t*>(poll_));
    return info.Env().Undefined();
  }

  Napi::Value UnrefLoop(const Napi::CallbackInfo& info) {
    if (poll_) uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
    return info.Env().Undefined();
  }

  Napi::Value Closed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), rb_ == nullptr); }
};

}  // namespace

void InitRingbuf(Napi::Env env, Napi::Object exports) { RingConsumer::Init(env, exports); }

}  // namespace bpfl
