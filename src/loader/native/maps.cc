// Map access by fd: lookup, update, delete, key iteration and batch reads. Keys and
// values are Buffers; per-CPU values are laid out CPU after CPU, each 8-aligned.
#include <bpf/bpf.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "common.h"

namespace bpfl {

namespace {

bool Args(const Napi::CallbackInfo& info, const char* usage) {
  if (info[0].IsNumber()) return true;
  Napi::TypeError::New(info.Env(), usage).ThrowAsJavaScriptException();
  return false;
}

const void* Data(const Napi::Value& v) {
  return v.IsBuffer() ? static_cast<const void*>(v.As<Napi::Buffer<uint8_t>>().Data()) : nullptr;
}

// mapLookup(fd, key, valueSize) -> Buffer | null
Napi::Value Lookup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Args(info, "mapLookup(fd, key, valueSize)")) return env.Undefined();
  int fd = info[0].As<Napi::Number>().Int32Value();
  size_t size = info[2].ToNumber().Uint32Value();
  auto out = Napi::Buffer<uint8_t>::New(env, size);
  if (bpf_map_lookup_elem(fd, Data(info[1]), out.Data()) == 0) return out;
  if (errno == ENOENT) return env.Null();
  MakeError(env, "map lookup", errno).ThrowAsJavaScriptException();
  return env.Undefined();
}

// mapUpdate(fd, key, value, flags)
Napi::Value Update(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Args(info, "mapUpdate(fd, key, value, flags)")) return env.Undefined();
  int fd = info[0].As<Napi::Number>().Int32Value();
  uint64_t flags = info[3].IsNumber() ? info[3].As<Napi::Number>().Int64Value() : 0;
  if (bpf_map_update_elem(fd, Data(info[1]), Data(info[2]), flags) != 0)
    MakeError(env, "map update", errno).ThrowAsJavaScriptException();
  return env.Undefined();
}

// mapDelete(fd, key) -> true if it was there
Napi::Value Delete(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Args(info, "mapDelete(fd, key)")) return env.Undefined();
  int fd = info[0].As<Napi::Number>().Int32Value();
  if (bpf_map_delete_elem(fd, Data(info[1])) == 0) return Napi::Boolean::New(env, true);
  if (errno == ENOENT) return Napi::Boolean::New(env, false);
  MakeError(env, "map delete", errno).ThrowAsJavaScriptException();
  return env.Undefined();
}

// mapTake(fd, key, valueSize) -> Buffer | null: the value and the key's deletion in one
// step, so no update can land between the read and the delete (5.14+ for hash maps).
Napi::Value Take(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Args(info, "mapTake(fd, key, valueSize)")) return env.Undefined();
  int fd = info[0].As<Napi::Number>().Int32Value();
  size_t size = info[2].ToNumber().Uint32Value();
  auto out = Napi::Buffer<uint8_t>::New(env, size);
  if (bpf_map_lookup_and_delete_elem(fd, Data(info[1]), out.Data()) == 0) return out;
  if (errno == ENOENT) return env.Null();
  MakeError(env, "map lookup and delete", errno).ThrowAsJavaScriptException();
  return env.Undefined();
}

// mapNextKey(fd, key | null, keySize) -> Buffer | null at the end
Napi::Value NextKey(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Args(info, "mapNextKey(fd, key, keySize)")) return env.Undefined();
  int fd = info[0].As<Napi::Number>().Int32Value();
  size_t size = info[2].ToNumber().Uint32Value();
  auto out = Napi::Buffer<uint8_t>::New(env, size);
  if (bpf_map_get_next_key(fd, Data(info[1]), out.Data()) == 0) return out;
  if (errno == ENOENT) return env.Null();
  MakeError(env, "map iteration", errno).ThrowAsJavaScriptException();
  return env.Undefined();
}

// mapLookupBatch(fd, keySize, valueSize, maxCount, token | null)
//   -> { keys, values, count, token, done }
Napi::Value LookupBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Args(info, "mapLookupBatch(fd, keySize, valueSize, maxCount, token)")) return env.Undefined();
  int fd = info[0].As<Napi::Number>().Int32Value();
  size_t key_size = info[1].ToNumber().Uint32Value();
  size_t value_size = info[2].ToNumber().Uint32Value();
  __u32 count = info[3].ToNumber().Uint32Value();
  // The batch token is opaque: a bucket index for hashes, a key for arrays.
  size_t token_size = std::max<size_t>(key_size, 8);
  std::vector<uint8_t> in(token_size), out(token_size);
  const void* in_token = nullptr;
  if (info[4].IsBuffer()) {
    auto t = info[4].As<Napi::Buffer<uint8_t>>();
    std::copy(t.Data(), t.Data() + std::min(t.Length(), token_size), in.begin());
    in_token = in.data();
  }
  auto keys = Napi::Buffer<uint8_t>::New(env, key_size * count);
  auto values = Napi::Buffer<uint8_t>::New(env, value_size * count);
  int err = bpf_map_lookup_batch(fd, const_cast<void*>(in_token), out.data(), keys.Data(), values.Data(), &count,
                                 nullptr);
  bool done = false;
  if (err != 0) {
    if (errno != ENOENT) {
      MakeError(env, "map batch lookup", errno).ThrowAsJavaScriptException();
      return env.Undefined();
    }
    done = true;
  }
  Napi::Object r = Napi::Object::New(env);
  r.Set("keys", keys);
  r.Set("values", values);
  r.Set("count", count);
  r.Set("token", Napi::Buffer<uint8_t>::Copy(env, out.data(), out.size()));
  r.Set("done", done);
  return r;
}

}  // namespace

void InitMaps(Napi::Env env, Napi::Object exports) {
  exports.Set("mapLookup", Napi::Function::New(env, Lookup));
  exports.Set("mapUpdate", Napi::Function::New(env, Update));
  exports.Set("mapDelete", Napi::Function::New(env, Delete));
  exports.Set("mapTake", Napi::Function::New(env, Take));
  exports.Set("mapNextKey", Napi::Function::New(env, NextKey));
  exports.Set("mapLookupBatch", Napi::Function::New(env, LookupBatch));
}

}  // namespace bpfl
